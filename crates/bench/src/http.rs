//! One HTTP/1.1 keep-alive connection (hyper), from a chosen loopback address, with a small cookie jar.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

/// An answer: its status, where it redirects to, and its body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body's first 300 characters, for an error message.
    pub fn excerpt(&self) -> String {
        self.text().chars().take(300).collect()
    }
}

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    /// Cookies the server set, as `name=value`.
    cookies: Vec<(String, String)>,
}

impl Connection {
    /// Connects to `target`, from `source` when given (so per-address budgets see distinct clients).
    pub async fn open(target: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<Connection> {
        let socket = TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket.bind(SocketAddr::new(source, 0)).with_context(|| format!("binding to {source}"))?;
        }
        socket.set_nodelay(true)?;
        let stream = socket.connect(target).await.with_context(|| format!("connecting to {target}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection { sender, host: format!("localhost:{}", target.port()), cookies: Vec::new() })
    }

    pub fn forget_cookies(&mut self) {
        self.cookies.clear();
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<Answer> {
        self.send(Method::POST, path, headers, body.into()).await
    }

    /// Posts a form with the page's CSRF token.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let body = serde_urlencoded::to_string(fields)?;
        self.post(path, &[("content-type", "application/x-www-form-urlencoded")], body).await
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let mut request = Request::builder().method(method).uri(path).header(header::HOST, &self.host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> =
                self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect();
            request = request.header(header::COOKIE, jar.join("; "));
        }
        self.sender.ready().await?;
        let response = self.sender.send_request(request.body(Full::new(body))?).await?;
        for set in response.headers().get_all(header::SET_COOKIE) {
            let Some((name, value)) =
                set.to_str().ok().and_then(|set| set.split(';').next()?.split_once('='))
            else {
                continue;
            };
            self.cookies.retain(|(have, _)| have != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let location =
            response.headers().get(header::LOCATION).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, location, body })
    }
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(page: &str) -> Option<&str> {
    let start = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    page[start..].split('"').next()
}
