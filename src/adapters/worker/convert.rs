//! `worker::Request` -> `HttpRequest`, `HttpResponse` -> `worker::Response`.

use crate::core::error::CreditError;
use crate::core::time::Timestamp;
use crate::http::config::WEBHOOK_BODY_BYTES_MAX;
use crate::http::{HttpRequest, HttpResponse};
use futures_core::Stream;
use std::future::poll_fn;
use std::pin::pin;
use worker::{Headers, Request, Response, ResponseBuilder, Result};

/// Reads the request into memory. A declared length above the largest cap is refused before
/// reading a byte, and an undeclared one (chunked) is counted while it is read and refused as
/// soon as it passes the cap, so no body is ever held whole beyond it; the router enforces each
/// route's own (smaller) cap on what was read.
pub async fn request(
    mut request: Request,
    request_id: &str,
    now: Timestamp,
) -> std::result::Result<HttpRequest, CreditError> {
    // The serialized URL is split by hand: `Request::url()` would reparse it with the `url` crate,
    // whose IDNA tables alone add ~100 KB to the Worker for no benefit (workerd already parsed it).
    let url = request.inner().url();
    let query = url.split_once('?').map(|(_, query)| query.split('#').next().unwrap_or("")).unwrap_or("").to_string();
    let declared =
        request.headers().get("content-length").ok().flatten().and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > u64::from(WEBHOOK_BODY_BYTES_MAX)) {
        return Err(CreditError::PayloadTooLarge { limit_bytes: WEBHOOK_BODY_BYTES_MAX });
    }
    // The raw method: workers-rs maps any method it does not know (QUERY, PROPFIND, …) to GET,
    // which would serve it as a GET instead of answering 405.
    let method = request.inner().method().to_ascii_uppercase();
    let body = match method.as_str() {
        "GET" | "HEAD" | "OPTIONS" => Vec::new(),
        _ => read_capped(&mut request, WEBHOOK_BODY_BYTES_MAX).await?,
    };
    Ok(HttpRequest {
        method: method.clone(),
        path: request.path(),
        query,
        headers: request.headers().entries().map(|(name, value)| (name.to_ascii_lowercase(), value)).collect(),
        body,
        request_id: request_id.to_string(),
        now,
        // Only a POST can issue a secret (create, rotate); the rest skip the call.
        entropy: if method == "POST" { Some(crate::adapters::web_crypto::entropy()?) } else { None },
    })
}

async fn read_capped(request: &mut Request, limit_bytes: u32) -> std::result::Result<Vec<u8>, CreditError> {
    // No body at all: workers-rs reports it as an error from `stream()`.
    let Ok(stream) = request.stream() else { return Ok(Vec::new()) };
    let mut stream = pin!(stream);
    let mut body = Vec::new();
    loop {
        match poll_fn(|context| stream.as_mut().poll_next(context)).await {
            None => return Ok(body),
            Some(Err(_)) => return Err(CreditError::invalid_request("request body could not be read")),
            Some(Ok(chunk)) => {
                if body.len() + chunk.len() > limit_bytes as usize {
                    return Err(CreditError::PayloadTooLarge { limit_bytes });
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

pub fn response(response: HttpResponse, request_id: &str) -> Result<Response> {
    if let Some(log) = &response.log {
        worker::console_error!("request {request_id}: {} {log}", response.status);
    }
    let headers = Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    if headers.get("x-request-id")?.is_none() {
        headers.set("X-Request-Id", request_id)?;
    }
    let builder = ResponseBuilder::new().with_status(response.status).with_headers(headers);
    Ok(match response.body {
        Some(_) => builder.fixed(response.body_bytes()),
        None => builder.empty(),
    })
}
