//! Ranged blob reads (`Range: bytes=a-b`), for parallel and resumed downloads.
//!
//! A registry (or the storage it redirects to) answers 206 with exactly the
//! bytes asked for, or 200 with the whole blob when it ignores Range. The
//! answer's own description of what it holds (Content-Range, Content-Length) is
//! checked before a byte is used, and the body is cut off at the length asked
//! for: a caller writes these bytes at their offset, so a wrong range would
//! land in the wrong place.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use hoist_oci::{BlobStream, Descriptor};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, HeaderValue, RANGE};
use reqwest::{Method, Response};

use crate::auth::Scopes;
use crate::error::describe_http_error;
use crate::{RegistryError, Repository};

impl Repository {
    /// Bytes `start..end` of a blob; `None` when the registry ignores Range
    /// (the response is dropped unread).
    pub(crate) async fn fetch_range_stream(
        &self,
        descriptor: &Descriptor,
        start: u64,
        end: u64,
    ) -> Result<Option<BlobStream>, RegistryError> {
        let digest = &descriptor.digest;
        let operation = format!("get {digest} bytes {start}..{end}");
        let invalid = |problem: String| RegistryError::InvalidResponse {
            target: self.target.clone(),
            operation: operation.clone(),
            problem,
        };
        if start > end || end > descriptor.size {
            return Err(invalid(format!("the range is outside the blob's {} bytes", descriptor.size)));
        }
        if start == end {
            return Ok(Some(Box::pin(futures_util::stream::empty())));
        }
        let path = Repository::content_path(descriptor);
        let mut call = self.call(Method::GET, &path, operation.clone(), Scopes::pull(&self.repository))?;
        // reqwest keeps Range on redirects (to a CDN or S3) and drops
        // Authorization when the redirect leaves the host.
        let range = HeaderValue::from_str(&format!("bytes={start}-{}", end - 1)).map_err(|e| invalid(e.to_string()))?;
        call.headers.insert(RANGE, range);
        // The caller retries a range, from the byte it reached.
        call.retry = false;
        let response = self.client.send(call).await?;
        if response.status() != StatusCode::PARTIAL_CONTENT {
            return Ok(None);
        }
        check_range_headers(response.headers(), start, end).map_err(invalid)?;
        Ok(Some(Box::pin(Exact::new(response, end - start))))
    }
}

/// Checks that a 206 says it holds `start..end`: a Content-Range for exactly
/// those bytes (required by RFC 9110 for a single range), and a Content-Length,
/// if sent, of their number.
fn check_range_headers(headers: &HeaderMap, start: u64, end: u64) -> Result<(), String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let content_range = text(CONTENT_RANGE).ok_or("a 206 answer without Content-Range")?;
    let expected = format!("bytes {start}-{}/", end - 1);
    if !content_range.trim().starts_with(&expected) {
        return Err(format!("asked for bytes {start}-{}, the answer holds {content_range:?}", end - 1));
    }
    if let Some(length) = text(CONTENT_LENGTH)
        && length.trim().parse::<u64>().ok() != Some(end - start)
    {
        return Err(format!("a Content-Length of {length} for a range of {} bytes", end - start));
    }
    Ok(())
}

/// A response body that must hold exactly `remaining` bytes: more is an error
/// (the excess is never passed on), and so is ending early.
struct Exact {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    remaining: u64,
    done: bool,
}

impl Exact {
    fn new(response: Response, len: u64) -> Exact {
        Exact { body: Box::pin(response.bytes_stream()), remaining: len, done: false }
    }
}

impl Stream for Exact {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = match self.body.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) if bytes.len() as u64 > self.remaining => {
                let problem = format!("the body holds more than the {} bytes left of the range", self.remaining);
                Err(std::io::Error::new(std::io::ErrorKind::InvalidData, problem))
            }
            Poll::Ready(Some(Ok(bytes))) => {
                self.remaining -= bytes.len() as u64;
                return Poll::Ready(Some(Ok(bytes)));
            }
            Poll::Ready(Some(Err(e))) => Err(std::io::Error::other(describe_http_error(e))),
            Poll::Ready(None) if self.remaining == 0 => Ok(None),
            Poll::Ready(None) => {
                let problem = format!("the body ended {} bytes short of the range", self.remaining);
                Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, problem))
            }
        };
        self.done = true;
        Poll::Ready(item.transpose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn content_range_and_length_must_match_the_request() {
        let ok = headers(&[("content-range", "bytes 10-19/100"), ("content-length", "10")]);
        assert!(check_range_headers(&ok, 10, 20).is_ok());
        assert!(check_range_headers(&headers(&[("content-range", "bytes 10-19/*")]), 10, 20).is_ok());
        let shifted = headers(&[("content-range", "bytes 0-9/100")]);
        assert!(check_range_headers(&shifted, 10, 20).unwrap_err().contains("0-9"));
        let longer = headers(&[("content-range", "bytes 10-199/1000")]);
        assert!(check_range_headers(&longer, 10, 20).is_err());
        let length = headers(&[("content-range", "bytes 10-19/100"), ("content-length", "11")]);
        assert!(check_range_headers(&length, 10, 20).unwrap_err().contains("11"));
        assert!(check_range_headers(&HeaderMap::new(), 10, 20).is_err());
    }
}
