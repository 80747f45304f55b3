//! CloudFront's geographic restriction: a distribution's allow list (`whitelist`) or deny list
//! (`blacklist`) of countries, against the country of the viewer's address. ferry has no GeoIP
//! database: the country comes from the edge's `client_countries` table (CIDR → ISO 3166-1
//! alpha-2 code, the longest prefix wins). An address whose country is not known is served, as
//! CloudFront serves a viewer it cannot locate.

use crate::net::Cidr;
use std::net::IpAddr;

/// A distribution's restriction (`restriction_type = "none"` is no restriction at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoRestriction {
    /// `whitelist`: only these countries; `blacklist`: all but these.
    pub allow_listed: bool,
    pub countries: Vec<String>,
}

impl GeoRestriction {
    /// Whether a viewer from `country` (`None`: not known) may be served.
    pub fn allows(&self, country: Option<&str>) -> bool {
        let Some(country) = country else {
            return true;
        };
        self.countries.iter().any(|c| c == country) == self.allow_listed
    }
}

/// The `client_countries` table, longest prefix first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Countries {
    networks: Vec<(Cidr, String)>,
}

impl Countries {
    pub fn new(mut networks: Vec<(Cidr, String)>) -> Countries {
        networks.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix()));
        Countries { networks }
    }

    pub fn country_of(&self, ip: IpAddr) -> Option<&str> {
        self.networks
            .iter()
            .find(|(net, _)| net.contains(ip))
            .map(|(_, c)| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_and_restrictions() {
        let table = Countries::new(vec![
            (
                Cidr::parse("127.0.0.0/8").unwrap_or_else(|e| panic!("{e}")),
                "US".into(),
            ),
            (
                Cidr::parse("127.0.0.2/32").unwrap_or_else(|e| panic!("{e}")),
                "FR".into(),
            ),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.country_of(ip("127.0.0.1")), Some("US"));
        assert_eq!(table.country_of(ip("127.0.0.2")), Some("FR"));
        assert_eq!(table.country_of(ip("10.0.0.1")), None);

        let allow = GeoRestriction {
            allow_listed: true,
            countries: vec!["US".into()],
        };
        let deny = GeoRestriction {
            allow_listed: false,
            countries: vec!["US".into()],
        };
        let cases = [
            (&allow, Some("US"), true),
            (&allow, Some("FR"), false),
            (&allow, None, true),
            (&deny, Some("US"), false),
            (&deny, Some("FR"), true),
            (&deny, None, true),
        ];
        for (r, country, want) in cases {
            assert_eq!(r.allows(country), want, "{r:?} {country:?}");
        }
    }
}
