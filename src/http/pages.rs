//! The few server-rendered HTML pages of the connection flow: small, no JavaScript, readable on a
//! phone, and locked down with security headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::connect::{Invitation, PageError};
use crate::domain::post::platform_label as label;

/// Nothing but inline styles; no framing; the URL (which holds the invitation token) never leaks
/// through the Referer header.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
                   frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f6f8;color:#1d2330;\
margin:0;padding:24px;display:flex;justify-content:center}main{background:#fff;max-width:420px;width:100%;border-radius:12px;\
padding:28px;box-shadow:0 1px 4px rgba(0,0,0,.08)}h1{font-size:1.35rem;margin:0 0 12px}p{line-height:1.5;margin:0 0 16px}\
.group{font-weight:600}button{width:100%;font:inherit;font-size:1rem;padding:14px;border:0;border-radius:8px;background:#2456e8;color:#fff;\
cursor:pointer}button:hover{background:#1b45c0}.note{font-size:.85rem;color:#5b6475;margin-top:16px}";

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// "Connect your X account to <group>" with one button that posts back to the same URL.
pub fn connect(inv: &Invitation) -> Response {
    let platform = label(inv.platform);
    // Rounded up: a fresh link reads "60 minutes", not 59.
    let minutes = ((inv.row.expires_at_ms - crate::clock::now_ms() + 59_999) / 60_000).max(1);
    let body = format!(
        "<h1>Connect your {platform} account</h1>\
         <p>Your {platform} account will be connected to <span class=\"group\">{group}</span>.</p>\
         <p>{platform} will ask you to sign in and to allow publishing on your behalf. \
         {afterwards}</p>\
         <form method=\"post\"><button type=\"submit\" id=\"continue\">Continue to {platform}</button></form>\
         <p class=\"note\">This link works once and expires in {minutes} minute{s}.</p>",
        group = escape(&inv.group_name),
        afterwards = if inv.row.redirect_url.is_empty() {
            "Afterwards this window tells you that the account is connected."
        } else {
            "Afterwards you are taken back to the app you came from."
        },
        s = if minutes == 1 { "" } else { "s" },
    );
    page(StatusCode::OK, &format!("Connect {platform}"), &body)
}

/// The end of a flow started without a `redirect_url` (`force_no_redirect`).
pub fn connected(platform: crate::domain::platform::Platform) -> Response {
    let platform = label(platform);
    let body = format!(
        "<h1 id=\"connected\">Your {platform} account is connected</h1>\
         <p>You can close this window and go back to where you started.</p>"
    );
    page(StatusCode::OK, &format!("{platform} connected"), &body)
}

pub fn error(e: &PageError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = format!("<h1>{}</h1><p>{}</p>", escape(e.title), escape(&e.message));
    page(status, e.title, &body)
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut resp = StatusCode::FOUND.into_response();
            resp.headers_mut().insert(header::LOCATION, v);
            resp.headers_mut()
                .insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            resp
        }
        Err(_) => error(&PageError {
            status: 500,
            title: "Something went wrong",
            message: "The redirect address is not valid.".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<b a=\"1\">'&'</b>"),
            "&lt;b a=&quot;1&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;"
        );
    }
}
