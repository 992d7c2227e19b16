//! For tests and benchmarks (the `testing` feature): a simulated org
//! connected the way an admin connects a real one, then synced.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use cockpit_db::PgPool;
use cockpit_domain::secret::Keyring;
use sfsim::RunningSim;
use uuid::Uuid;

use crate::connect::{ConnectRequest, connect};
use crate::sync::{SyncSettings, sync_org};

/// Connects `sim` as the org `name` by the JWT bearer flow with the
/// simulator's own key, syncs it once, and returns the org's id.
pub async fn connect_and_sync(
    pool: &PgPool,
    keyring: &Arc<Keyring>,
    name: &str,
    sim: &RunningSim,
) -> Uuid {
    let org = connect_sim(pool, keyring, name, sim).await;
    sync_org(pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .expect("the simulated org syncs");
    org
}

/// Connects `sim` as the org `name` by the JWT bearer flow with the
/// simulator's own key, without syncing it; returns the org's id.
pub async fn connect_sim(pool: &PgPool, keyring: &Keyring, name: &str, sim: &RunningSim) -> Uuid {
    let c = &sim.credentials;
    connect(
        pool,
        keyring,
        ConnectRequest::jwt(
            name,
            &c.login_url,
            &c.client_id,
            Some(&c.client_secret),
            &c.jwt_private_key_pem,
            &c.username,
            false,
        )
        .expect("the simulator's credentials make a valid request"),
    )
    .await
    .expect("the simulated org connects")
    .id
}

/// A mail a test SMTP server took: the recipients and the message.
pub type Mails = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A minimal SMTP server on loopback: the happy path of RFC 5321 (EHLO,
/// MAIL, RCPT, DATA, QUIT), enough for a real client to hand it mail.
/// Hand-written: it is a test's receiver, and the SMTP servers on crates.io
/// are either unmaintained or bring a mail system of their own.
pub async fn smtp_server() -> (SocketAddr, Mails) {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails = Mails::default();
    let kept = mails.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-test\r\n250 8BITMIME\r\n",
                        "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "RCPT" => {
                            rcpt.push(line[8..].trim_matches(|c| c == '<' || c == '>').to_owned());
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            write.write_all(b"354 go on\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            kept.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                            b"250 OK queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"502 not here\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (addr, mails)
}
