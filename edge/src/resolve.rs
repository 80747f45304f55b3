//! Origin name resolution: the topology's static names (its `[resolve]` table and every load
//! balancer's dns_name) first, then the system resolver.

use std::collections::BTreeMap;
use std::net::IpAddr;

pub struct Resolver {
    table: BTreeMap<String, Vec<IpAddr>>,
}

impl Resolver {
    pub fn new(table: BTreeMap<String, Vec<IpAddr>>) -> Resolver {
        Resolver { table }
    }

    /// The addresses of `name` (lowercase). An IP literal is itself.
    pub async fn lookup(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        if let Some(addresses) = self.table.get(name) {
            return Ok(addresses.clone());
        }
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let found: Vec<IpAddr> = tokio::net::lookup_host((name, 0))
            .await?
            .map(|a| a.ip())
            .collect();
        if found.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{name} has no addresses"),
            ));
        }
        Ok(found)
    }
}
