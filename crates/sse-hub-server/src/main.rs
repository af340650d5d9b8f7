//! The `sse-hub` server binary. Everything but signal handling and process
//! setup lives in the library (`sse_hub_server`).

use std::process::ExitCode;

use anyhow::Context as _;
use sse_hub::axum::DeadlineListener;
use sse_hub_server::app;
use sse_hub_server::config::{LoadError, Options, Settings};

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let chain = err
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            if tracing::dispatcher::has_been_set() {
                tracing::error!(error = %chain, "sse-hub failed");
            } else {
                eprintln!("sse-hub: error: {chain}");
            }
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let options = match Options::load(std::env::args_os(), std::env::vars_os()) {
        Ok(options) => options,
        // Help, version and usage errors print themselves and exit (0 or 2).
        Err(LoadError::Cli(err)) => err.exit(),
        Err(err) => return Err(err).context("loading configuration"),
    };
    let settings = options.resolve().context("invalid configuration")?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&settings.log)?)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    for var in Options::unknown_env_vars(std::env::vars_os()) {
        tracing::warn!(
            variable = %var,
            "unknown SSE_HUB_* variable ignored (misspelled? see sse-hub --help)"
        );
    }
    raise_fd_limit();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(settings))
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = app::build(&settings, settings.hub_config()).await?;
    let listener = DeadlineListener::bind(settings.listen, app.hub.config())
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let local = axum::serve::Listener::local_addr(&listener).context("reading local address")?;
    let auth = &settings.auth;
    tracing::info!(
        address = %local,
        replay = %settings.replay,
        jwt = auth.key.is_some(),
        anonymous_topics = ?auth.anonymous_topics,
        "sse-hub listening on http://{local}/"
    );
    if auth.open_publish() {
        tracing::warn!(
            "no --publish-token and no JWT key: anyone who can reach {local} may publish (loopback only)"
        );
    }
    // After the drain, give hyper one write deadline to flush what is left.
    let grace = settings.write_timeout + std::time::Duration::from_secs(1);
    app::serve(
        listener,
        app,
        settings.drain_timeout,
        grace,
        shutdown_signal(),
    )
    .await
    .context("serving")?;
    tracing::info!("sse-hub stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server")
            }
        }
    }
    if let Err(err) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %err, "cannot listen for Ctrl-C; the server runs until killed");
        std::future::pending::<()>().await;
    }
}

/// Raises the soft open-files limit to the hard limit: every subscriber is a socket.
fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open files limit"),
    }
}
