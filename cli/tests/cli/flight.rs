//! `arrowport serve` in front of the MaxCompute emulator: what a Flight client is told when
//! its plan's download session expired, and that a client gone mid-stream leaves no read
//! running (the emulator's request log of that table stops).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use arrow_flight::error::FlightError;
use arrow_flight::{Action, FlightClient, FlightDescriptor, FlightInfo};
use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};
use futures::{StreamExt, TryStreamExt};
use tonic::transport::Channel;

use super::{arrowport, on_runtime};

/// A `serve` process; killed when dropped.
struct Served {
    child: Child,
    address: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(emu: &MaxComputeEmulator) -> Served {
    let c = emu.config();
    let mut child = arrowport()
        .args(["serve", "--listen", "127.0.0.1:0", "--no-auth"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &c.access_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &c.secret_access_key)
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().replace("grpc://", "http://");
    assert!(address.starts_with("http://127.0.0.1:"), "{line}");
    Served { child, address }
}

async fn client(served: &Served) -> FlightClient {
    let channel = Channel::from_shared(served.address.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightClient::new(channel)
}

fn descriptor(emu: &MaxComputeEmulator, table: &str, extra: &str) -> FlightDescriptor {
    let url = format!(
        "maxcompute://{}/{table}?endpoint={}{extra}",
        emu.config().project,
        emu.endpoint()
    );
    FlightDescriptor::new_cmd(serde_json::json!({ "url": url }).to_string())
}

async fn plan(served: &Served, descriptor: FlightDescriptor) -> FlightInfo {
    client(served)
        .await
        .get_flight_info(descriptor)
        .await
        .unwrap()
}

async fn running(served: &Served) -> u64 {
    let answers: Vec<_> = client(served)
        .await
        .do_action(Action::new("health", ""))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let health: serde_json::Value = serde_json::from_slice(&answers[0]).unwrap();
    health["streams"]["running"].as_u64().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_ticket_of_an_expired_session_is_refused_with_what_to_do() {
    let (_rt, emu) = on_runtime(MaxComputeEmulator::start(MaxComputeConfig {
        narrow_rows: 5000,
        ..MaxComputeConfig::default()
    }));
    let served = serve(&emu);
    runtime().block_on(async {
        let info = plan(&served, descriptor(&emu, "narrow", "&split_rows=1000")).await;
        assert_eq!(info.endpoint.len(), 5);
        emu.faults().expire_sessions();
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let read: Result<Vec<_>, _> = async {
            client(&served)
                .await
                .do_get(ticket)
                .await?
                .try_collect::<Vec<_>>()
                .await
        }
        .await;
        let Err(FlightError::Tonic(status)) = read else {
            panic!("a ticket of an expired session was read: {read:?}");
        };
        assert!(
            !matches!(status.code(), tonic::Code::Unknown | tonic::Code::Ok),
            "{status}"
        );
        assert!(status.message().contains("expired"), "{}", status.message());
        // Planning again works, and the server kept serving.
        let info = plan(&served, descriptor(&emu, "narrow", "&split_rows=1000")).await;
        let mut rows = 0;
        for endpoint in info.endpoint {
            let batches: Vec<_> = client(&served)
                .await
                .do_get(endpoint.ticket.unwrap())
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        assert_eq!(rows, 5000);
    });
}

#[test]
fn a_client_gone_mid_stream_leaves_no_read_running() {
    let (_rt, emu) = on_runtime(MaxComputeEmulator::start(MaxComputeConfig {
        narrow_rows: 20_000_000,
        ..MaxComputeConfig::default()
    }));
    let served = serve(&emu);
    runtime().block_on(async {
        // One split of all 20M rows: far more than any buffer holds.
        let info = plan(&served, descriptor(&emu, "narrow", "&split_rows=20000000")).await;
        let mut reader = client(&served).await;
        let mut stream = reader
            .do_get(info.endpoint[0].ticket.clone().unwrap())
            .await
            .unwrap();
        stream.next().await.unwrap().unwrap();
        assert_eq!(running(&served).await, 1);
        drop(stream);
        drop(reader);
        let deadline = Instant::now() + Duration::from_secs(30);
        while running(&served).await > 0 && Instant::now() < deadline {}
        assert_eq!(running(&served).await, 0);

        // From here on the emulator sees no request for `narrow`, while another client
        // reads another table through the same server.
        let seen = emu.requests().len();
        let info = plan(&served, descriptor(&emu, "all_types", "")).await;
        for endpoint in info.endpoint {
            let batches: Vec<_> = client(&served)
                .await
                .do_get(endpoint.ticket.unwrap())
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert!(!batches.is_empty());
        }
        let later: Vec<_> = emu.requests()[seen..]
            .iter()
            .filter(|r| r.path.contains("narrow"))
            .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
            .collect();
        assert!(later.is_empty(), "reads of `narrow` went on: {later:?}");
    });
}
