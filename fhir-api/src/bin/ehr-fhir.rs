//! ehr-fhir: the FHIR R4 API a hospital runs for its own systems (docs/fhir.md).

use std::path::PathBuf;

use clap::Parser;
use ehr_client::rpc::trust::TrustArgs;
use ehr_fhir_api::callers::CallerRule;
use ehr_fhir_api::startup::{Application, Settings};

#[derive(Parser)]
#[command(
    name = "ehr-fhir",
    version,
    about = "A FHIR R4 API for a hospital's own systems: reads as its clinicians through the gateway, verifies here, answers in FHIR"
)]
struct Args {
    /// Where to listen (port 0: any free port, announced on standard output).
    #[arg(long, env = "EHR_FHIR_LISTEN", default_value = "127.0.0.1:8443")]
    listen: String,
    /// The base URL the hospital's systems reach this API at, for the links
    /// in its answers (default: https://<listen address>/fhir).
    #[arg(long)]
    base_url: Option<String>,
    /// The hospital's record gateway.
    #[arg(long, env = "EHR_GATEWAY")]
    gateway: String,
    /// RPC of a CometBFT node (or `ehr-node dev`) of the consortium.
    #[arg(long, env = "EHR_NODE", default_value = ehr_client::rpc::DEFAULT_NODE_URL)]
    node: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// The folder of the keys of the clinicians this API acts for (as `ehr keys` keeps them).
    #[arg(long, env = "EHR_FHIR_KEYS")]
    keys: PathBuf,
    /// Which clinicians a caller may act for: `<certificate common name>=<key>[,<key>…]`;
    /// repeat for each caller.
    #[arg(long = "caller", required = true)]
    callers: Vec<CallerRule>,
    /// The authority that issues callers' certificates (default: --ca-file). A
    /// hospital gives its callers an authority of their own, so that no
    /// service's certificate passes for a caller's.
    #[arg(long, value_name = "PEM")]
    caller_ca_file: Option<PathBuf>,
    /// TLS: the authority the gateway's and the node's certificates chain to,
    /// and this API's own certificate; every caller must show one (mutual TLS).
    #[command(flatten)]
    tls: ehr_transport::ClientTlsArgs,
    #[arg(long)]
    log_json: bool,
}

fn main() {
    let args = Args::parse();
    ehr_client::service::init_logging(args.log_json);
    if let Err(e) = run(args) {
        eprintln!("ehr-fhir: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let transport = ehr_transport::Transport::from_args(&ehr_transport::TlsArgs {
        client: args.tls.clone(),
        require_client_cert: args.tls.ca_file.is_some() || args.caller_ca_file.is_some(),
        client_ca_file: args.caller_ca_file.clone(),
        insecure_plaintext: false,
    })?;
    ehr_transport::install(&transport);
    let settings = Settings {
        transport,
        listen: args.listen,
        gateway: args.gateway,
        node: args.node,
        trust: args.trust.root()?,
        max_state_age: args.trust.max_state_age(),
        keys: args.keys,
        callers: args.callers,
        base_url: args.base_url,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let app = Application::build(settings).await?;
        // Scripts and tests wait for this line (and learn the port).
        println!("ehr-fhir: serving FHIR R4 at {}", app.base());
        app.run_until(ehr_client::service::shutdown_signal())
            .await?;
        Ok(())
    })
}
