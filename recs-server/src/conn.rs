//! Connection admission on the public port: a cap on open connections in total and per client
//! IP address. A connection past either cap is accepted and answered at once with `503` and
//! `Retry-After: 1`, then closed: it never waits in a queue, so a flood of slow or idle sockets
//! costs the other clients nothing but the accept. Together with `header_read_timeout_ms`
//! (which also bounds an idle keep-alive connection) this bounds what one host can hold: at most
//! `max_connections_per_ip` slots, each for at most the header timeout while it sends nothing
//! useful.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;

/// The answer to a connection over a cap.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 91\r\n\
\r\n\
{\"error\":{\"status\":503,\"code\":\"unavailable\",\"message\":\"too many connections, retry later\"}}";

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` are open.
    Total,
    /// `max_connections_per_ip` are open from this address.
    PerIp,
}

impl Refusal {
    /// The `reason` label of `recs_http_connections_refused_total`: `overload` for the total
    /// cap, `per_ip` for the per-address cap.
    ///
    /// ```
    /// use recs_server::conn::Refusal;
    /// assert_eq!(Refusal::Total.reason(), "overload");
    /// assert_eq!(Refusal::PerIp.reason(), "per_ip");
    /// ```
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Total => "overload",
            Refusal::PerIp => "per_ip",
        }
    }
}

/// Counts open connections in total and per IP address.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// An admitted connection's place; freed on drop.
#[derive(Debug)]
pub struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    /// Caps of `max_total` connections, `max_per_ip` from one address.
    ///
    /// ```
    /// use recs_server::conn::{Admission, Refusal};
    /// let a = Admission::new(3, 2);
    /// let ip = "10.0.0.1".parse().unwrap();
    /// let (s1, s2) = (a.try_admit(ip).unwrap(), a.try_admit(ip).unwrap());
    /// assert_eq!(a.try_admit(ip).unwrap_err(), Refusal::PerIp);
    /// let other = a.try_admit("10.0.0.2".parse().unwrap()).unwrap();
    /// assert_eq!(a.try_admit("10.0.0.3".parse().unwrap()).unwrap_err(), Refusal::Total);
    /// drop((s1, s2, other));
    /// assert_eq!(a.open(), 0);
    /// ```
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Admission {
            max_total,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for a connection from `ip`, or says which cap is reached.
    ///
    /// # Errors
    /// The [`Refusal`] when a cap is reached.
    pub fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if self.total.load(Ordering::Relaxed) >= self.max_total {
            return Err(Refusal::Total);
        }
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            admission: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let a = &self.admission;
        let mut per_ip = a.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                // Keeps the map as small as the set of connected addresses.
                per_ip.remove(&self.ip);
            }
        }
        a.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers a refused connection with `503` + `Retry-After` and closes it. The answer fits the
/// empty send buffer of a new socket, so one non-blocking write sends it; what the client
/// already sent is read and dropped for at most 200 ms so that the close is a FIN after the
/// answer, not a reset that could discard it.
pub(crate) fn refuse(stream: TcpStream) {
    let _ = stream.try_write(OVERLOADED);
    tokio::spawn(async move {
        let drain = async {
            let mut buf = [0u8; 4096];
            loop {
                if stream.readable().await.is_err() {
                    return;
                }
                match stream.try_read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(200), drain).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canned_answer_declares_its_body_length() {
        let text = std::str::from_utf8(OVERLOADED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["status"], 503);
    }

    #[test]
    fn slots_are_given_back_on_drop_per_address() {
        let a = Admission::new(10, 1);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let s = a.try_admit(ip).unwrap();
        assert_eq!(a.try_admit(ip).unwrap_err(), Refusal::PerIp);
        drop(s);
        let _again = a.try_admit(ip).unwrap();
        assert_eq!(a.open(), 1);
    }
}
