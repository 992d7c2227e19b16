//! The database goes away under a running server: pages answer a friendly 503,
//! and everything recovers by itself when the database is back. The outage is
//! real: the server reaches Postgres through a TCP proxy that the test cuts.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use cockpit_db::ConnectOptions;
use cockpit_web::AppState;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Mutex,
    task::JoinHandle,
};

/// A TCP proxy in front of Postgres. `cut` drops every connection and stops
/// listening (connections are refused, as when Postgres is stopped);
/// `restore` listens again on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Arc<Mutex<Option<Running>>>,
}

struct Running {
    acceptor: JoinHandle<()>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Proxy {
            addr,
            upstream,
            state: Arc::new(Mutex::new(None)),
        };
        proxy.run(listener).await;
        proxy
    }

    async fn run(&self, listener: TcpListener) {
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (upstream, c) = (self.upstream, conns.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                c.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                }));
            }
        });
        *self.state.lock().await = Some(Running { acceptor, conns });
    }

    async fn cut(&self) {
        if let Some(running) = self.state.lock().await.take() {
            running.acceptor.abort();
            let _ = running.acceptor.await;
            for c in running.conns.lock().await.drain(..) {
                c.abort();
            }
        }
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the proxy port");
        self.run(listener).await;
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn database_outage_gives_503_then_recovers(
    _pool_opts: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let upstream: SocketAddr = format!("{}:{}", opts.get_host(), opts.get_port())
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let url = format!(
        "postgres://{}@{}/{}",
        opts.get_username(),
        proxy.addr,
        opts.get_database().expect("test database name")
    );
    let options = ConnectOptions {
        acquire_timeout: Duration::from_millis(800),
        ..ConnectOptions::default()
    };
    let pool = cockpit_db::connect(&url, &options).await.unwrap();
    cockpit_db::migrate(&pool).await.unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cockpit_web::serve(
        AppState::new(pool, &base),
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));
    let client = reqwest::Client::new();

    assert_eq!(get(&client, &format!("{base}/readyz")).await.0, 200);
    // A page that reads the database (a fresh installation asks for its first admin).
    let (status, body) = get(&client, &format!("{base}/setup")).await;
    assert_eq!(status, 200);
    assert!(body.contains("create the first admin"), "{body}");

    proxy.cut().await;
    let (status, body) = get(&client, &format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = get(&client, &format!("{base}/setup")).await;
    assert_eq!(status, 503);
    assert!(
        body.contains("database is unavailable"),
        "friendly page expected: {body}"
    );
    assert!(
        !body.contains("PoolTimedOut") && !body.contains("sqlx"),
        "internal text leaked: {body}"
    );
    assert_eq!(
        get(&client, &format!("{base}/healthz")).await.0,
        200,
        "the process itself is alive"
    );
    // A browser sends its session cookie along; the probe reads no session.
    let with_cookie = client
        .get(format!("{base}/healthz"))
        .header("cookie", "__Host-cockpit_session=some-session-id")
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), 200, "alive, whatever the cookie");

    proxy.restore().await;
    // The pool reconnects by itself; allow it a bounded number of tries.
    let mut recovered = false;
    for _ in 0..50 {
        if get(&client, &format!("{base}/readyz")).await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "server did not recover after the database came back"
    );
    assert_eq!(get(&client, &format!("{base}/setup")).await.0, 200);

    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}
