//! The `ferry` command: validate a topology, run it whole (`up`) or in parts (`edge`, `balancer`).

mod admin;
mod admin_client;
mod demo;
mod invalidate;
mod provision;
mod reload;
mod run;
mod sign_url;
mod status;
mod targets;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a request through pingora makes some 60 small allocations,
/// and glibc's free lists were a tenth of the proxies' CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CloudFront in front of an Application Load Balancer, self-hosted.
///
/// One TOML topology file describes distributions, cache behaviors and policies, load balancers,
/// listeners, rules and target groups, with the field names of the AWS APIs. `ferry up` runs the
/// whole topology on this machine; `ferry edge` and `ferry balancer` run its parts on separate hosts.
#[derive(Parser)]
#[command(name = "ferry", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How logs are written to stderr: `text` (one line per event), `json` (one object per line,
    /// for log shippers) or `pretty` (multi-line, for reading). `FERRY_LOG` (or `RUST_LOG`) sets
    /// the level, e.g. `info` or `ferry_edge=debug`.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: run::LogFormat,
}

/// Threads, graceful stop and zero-downtime restart, for the commands that serve.
#[derive(clap::Args, Clone, Debug)]
struct Restart {
    /// How many threads serve, edge and balancer alike, each with its own listening sockets
    /// (1 to 256). Default: `[edge] threads`, or one per CPU.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Pin thread N to the Nth CPU ferry may run on and hand each new connection to the thread on
    /// the CPU that received it, as `[edge] pin_threads = true` does (which also turns it on).
    #[arg(long)]
    pin_threads: bool,
    /// On SIGTERM or SIGINT (and after handing the sockets over on SIGQUIT), how long requests in
    /// flight may take to finish: ferry stops accepting, exits as soon as none is left, and after
    /// this many seconds at the latest.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    grace_period: u64,
    /// Take the listening sockets over from a running ferry of the same topology instead of
    /// binding them: start this, then send the running one SIGQUIT (within 30 seconds); it hands
    /// its sockets over, stops accepting and finishes its requests. No connection is refused.
    #[arg(long)]
    upgrade: bool,
    /// The Unix socket the sockets are handed over on; both processes must agree. Default: one
    /// per stack and command in the temporary directory.
    #[arg(long)]
    upgrade_socket: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Check a topology file as AWS would, and print every error with its file:line:column and field.
    Validate {
        /// The topology file (TOML).
        file: PathBuf,
    },
    /// Run the whole topology in one process: the edge, one balancer node per zone, and the demo targets.
    ///
    /// With no FILE, runs the embedded default topology (also in examples/default.toml): an edge on
    /// 127.0.0.1:8080 in front of a load balancer with nodes on 127.0.0.1:8081 (zone a) and
    /// 127.0.0.2:8081 (zone b), in front of two demo targets. Ctrl-C stops it.
    Up {
        /// The topology file; the embedded default when omitted.
        file: Option<PathBuf>,
        /// The admin listener (CloudFront invalidations, ELBv2 target health); default: [edge] admin.
        #[arg(long)]
        admin: Option<SocketAddr>,
        #[command(flatten)]
        restart: Restart,
    },
    /// Run only the CDN edge of a topology.
    Edge {
        file: PathBuf,
        /// The admin listener; default: [edge] admin.
        #[arg(long)]
        admin: Option<SocketAddr>,
        #[command(flatten)]
        restart: Restart,
    },
    /// Run the balancer node(s) of one zone of a topology.
    Balancer {
        file: PathBuf,
        /// The zone whose node this process runs (a key of the load balancers' `nodes`).
        #[arg(long)]
        zone: String,
        /// The admin listener of this node (ELBv2 DescribeTargetHealth, RegisterTargets, ...).
        #[arg(long)]
        admin: Option<SocketAddr>,
        #[command(flatten)]
        restart: Restart,
    },
    /// Invalidate cached objects on a running edge (CloudFront's CreateInvalidation).
    ///
    /// Paths are CloudFront invalidation paths: they start with `/`, are case sensitive, and may end
    /// with `*` to match every object under a prefix. Prints the invalidation id.
    Invalidate {
        /// The distribution id.
        #[arg(long)]
        distribution: String,
        /// The edge's admin listener.
        #[arg(long, default_value = "127.0.0.1:9900")]
        admin: String,
        /// The admin token, when the admin listener needs one.
        #[arg(long, env = "FERRY_ADMIN_TOKEN")]
        token: Option<String>,
        /// Paths to invalidate, e.g. /index.html or '/images/*'.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// A running balancer's targets: health, registration, deregistration (ELBv2's API).
    Targets {
        #[command(subcommand)]
        action: TargetsAction,
        /// The admin listener of the process running the balancer.
        #[arg(long, global = true, default_value = "127.0.0.1:9900")]
        admin: String,
        /// The admin token, when the admin listener needs one.
        #[arg(long, global = true, env = "FERRY_ADMIN_TOKEN")]
        token: Option<String>,
    },
    /// A readable summary of a running ferry: listeners, distributions, cache, target health.
    ///
    /// Asks the admin listener's `GET /ferry/status`.
    Status {
        /// The admin listener of the running ferry.
        #[arg(long, default_value = "127.0.0.1:9900")]
        admin: String,
        /// The admin token, when the admin listener needs one.
        #[arg(long, env = "FERRY_ADMIN_TOKEN")]
        token: Option<String>,
        /// Print the status document (JSON) as the admin listener gives it.
        #[arg(long)]
        json: bool,
    },
    /// Make a running ferry read its topology file again (as SIGHUP does): a valid file takes
    /// effect for new requests; an invalid one is refused with its errors, and the old one keeps
    /// serving.
    Reload {
        /// The admin listener of the running ferry.
        #[arg(long, default_value = "127.0.0.1:9900")]
        admin: String,
        /// The admin token, when the admin listener needs one.
        #[arg(long, env = "FERRY_ADMIN_TOKEN")]
        token: Option<String>,
    },
    /// Sign a URL as CloudFront's signed URLs are signed (RSA-SHA1 with a key group's private key),
    /// for behaviors with `trusted_key_groups`; prints the signed URL, or with --cookies the
    /// signed cookies' `Set-Cookie` lines.
    SignUrl {
        /// The URL to sign, as viewers request it: https://host/path?query.
        url: String,
        /// The public key's id in the key group (the topology's `public_keys.id`, or its name).
        #[arg(long)]
        key_pair_id: String,
        /// The RSA private key, PEM.
        #[arg(long)]
        private_key: PathBuf,
        /// A canned policy expiring then: seconds since the epoch, or +SECONDS from now.
        #[arg(long, conflicts_with = "policy", required_unless_present = "policy")]
        expires: Option<String>,
        /// A custom policy (JSON file): resource wildcards, DateGreaterThan, IpAddress.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Print `Set-Cookie` lines for signed cookies instead of a URL.
        #[arg(long)]
        cookies: bool,
    },
    /// Print the embedded default topology, to start a file of your own from it.
    Example,
    /// Show what `apply` would change in AWS: create, update (field by field) and delete, in order.
    ///
    /// Reads only what is tagged `ferry:stack = <stack>`. Exit code 0: no changes; 2: changes; 1: error.
    Plan {
        file: PathBuf,
        /// The plan as JSON, for machines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Make AWS match the topology: the plan, carried out in dependency order.
    Apply {
        file: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Delete everything the topology's stack owns in AWS (and nothing else).
    Destroy {
        file: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Write a topology file (to stdout) from the live resources tagged `ferry:stack = NAME`.
    Import {
        /// The stack name.
        #[arg(long)]
        stack: String,
        #[command(flatten)]
        aws: AwsArgs,
    },
}

/// Where and as whom to talk to AWS; the standard credential chain applies.
#[derive(clap::Args)]
struct AwsArgs {
    /// The region (default: the topology's [aws] region, else AWS_REGION / the profile's).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// A named profile from ~/.aws/config and ~/.aws/credentials.
    #[arg(long, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Another endpoint for every AWS API (e.g. a moto server: http://127.0.0.1:5000).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

impl AwsArgs {
    fn options(self) -> ferry_provision::aws::AwsOptions {
        ferry_provision::aws::AwsOptions {
            region: self.region,
            profile: self.profile,
            endpoint_url: self.endpoint_url,
        }
    }
}

#[derive(Subcommand)]
enum TargetsAction {
    /// Print each target's state, as DescribeTargetHealth reports it.
    Health {
        /// The target group's name (or ARN).
        #[arg(long)]
        target_group: String,
    },
    /// Register targets: IP[:PORT][@ZONE], the group's port when none is given.
    Register {
        #[arg(long)]
        target_group: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Deregister targets: they drain until their requests in flight end (at most the group's
    /// deregistration delay), then leave.
    Deregister {
        #[arg(long)]
        target_group: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run::init_logging(cli.log_format);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ferry: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Validate { file } => Ok(run::validate(&file)),
        Command::Up {
            file,
            admin,
            restart,
        } => run::up(file.as_deref(), admin, restart.into()),
        Command::Edge {
            file,
            admin,
            restart,
        } => run::edge(&file, admin, restart.into()),
        Command::Balancer {
            file,
            zone,
            admin,
            restart,
        } => run::balancer(&file, &zone, admin, restart.into()),
        Command::Invalidate {
            distribution,
            admin,
            token,
            paths,
        } => {
            let id = invalidate::invalidate(&admin, &distribution, &paths, token.as_deref())?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Targets {
            action,
            admin,
            token,
        } => {
            let token = token.as_deref();
            match action {
                TargetsAction::Health { target_group } => {
                    targets::health(&admin, token, &target_group)?
                }
                TargetsAction::Register {
                    target_group,
                    targets: list,
                } => targets::register(&admin, token, &target_group, &list, false)?,
                TargetsAction::Deregister {
                    target_group,
                    targets: list,
                } => targets::register(&admin, token, &target_group, &list, true)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { admin, token, json } => {
            status::status(&admin, token.as_deref(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload { admin, token } => reload_remote(&admin, token.as_deref()),
        Command::SignUrl {
            url,
            key_pair_id,
            private_key,
            expires,
            policy,
            cookies,
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let terms = match (expires, policy) {
                (_, Some(file)) => sign_url::Terms::Custom {
                    policy: std::fs::read_to_string(&file)
                        .with_context(|| format!("{}: cannot read the policy", file.display()))?
                        .trim()
                        .to_string(),
                },
                (Some(e), None) => sign_url::Terms::Canned {
                    expires: sign_url::expires(&e, now)?,
                },
                (None, None) => anyhow::bail!("give --expires or --policy"),
            };
            let parameters = sign_url::parameters(&url, &terms, &key_pair_id, &private_key)?;
            if cookies {
                for (name, value) in &parameters {
                    println!("Set-Cookie: CloudFront-{name}={value}; Path=/; Secure; HttpOnly");
                }
            } else {
                println!("{}", sign_url::signed_url(&url, &parameters));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { file, json, aws } => provision::plan(&file, &aws.options(), json),
        Command::Apply {
            file,
            auto_approve,
            aws,
        } => provision::apply(&file, &aws.options(), auto_approve),
        Command::Destroy {
            file,
            auto_approve,
            aws,
        } => provision::destroy(&file, &aws.options(), auto_approve),
        Command::Import { stack, aws } => provision::import(&stack, &aws.options()),
        Command::Example => {
            print!("{}", ferry_config::DEFAULT_TOPOLOGY);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `ferry reload`: asks a running ferry to reload and prints what it answered.
fn reload_remote(admin: &str, token: Option<&str>) -> Result<ExitCode> {
    let (status, body) =
        admin_client::call(admin, "POST", "/ferry/reload", "text/plain", "", token)?;
    let answer: serde_json::Value = match status {
        200 | 400 | 409 => serde_json::from_str(&body)
            .with_context(|| format!("the admin listener at {admin} answered: {}", body.trim()))?,
        401 | 403 => anyhow::bail!(
            "the admin listener at {admin} refused the request ({status}): pass --token or set FERRY_ADMIN_TOKEN"
        ),
        _ => anyhow::bail!(
            "the admin listener at {admin} answered {status}: {}",
            body.trim()
        ),
    };
    if status == 200 {
        println!(
            "reloaded: stack {}, {} distribution(s), {} load balancer(s), {} target group(s)",
            answer["stack"],
            answer["distributions"],
            answer["load_balancers"],
            answer["target_groups"]
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("reload refused; the running topology is unchanged:");
    for line in answer["errors"].as_array().into_iter().flatten() {
        eprintln!("  {}", line.as_str().unwrap_or_default());
    }
    Ok(ExitCode::from(1))
}

impl From<Restart> for run::Lifecycle {
    fn from(r: Restart) -> run::Lifecycle {
        run::Lifecycle {
            threads: r.threads.map(usize::from),
            pin_threads: r.pin_threads,
            upgrade: r.upgrade,
            socket: r.upgrade_socket,
            grace_period: std::time::Duration::from_secs(r.grace_period),
        }
    }
}
