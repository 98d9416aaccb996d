//! The one body type every hop uses: the whole payload in memory, plus optional trailers.
//!
//! Envoy buffers a request it may retry, and every app in the simulation answers with a body
//! it already holds, so nothing streams; keeping bodies whole also lets a retry resend the
//! same bytes. Trailers carry gRPC's `grpc-status`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;

/// A whole body and its trailers.
#[derive(Clone, Debug, Default)]
pub struct Payload {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Payload {
    /// An empty body.
    pub fn empty() -> Payload {
        Payload::default()
    }

    /// A body holding `data`.
    pub fn new(data: Bytes) -> Payload {
        Payload {
            data: Some(data),
            trailers: None,
        }
    }

    /// `size` bytes of filler, for a modelled response size.
    pub fn filler(size: u64) -> Payload {
        const ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let data = if size <= ZEROS.len() {
            Bytes::from_static(&ZEROS[..size])
        } else {
            Bytes::from(vec![0u8; size])
        };
        Payload::new(data)
    }

    /// Adds trailers.
    pub fn with_trailers(mut self, trailers: HeaderMap) -> Payload {
        self.trailers = Some(trailers);
        self
    }

    /// The data.
    pub fn data(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    /// The trailers, if any.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Reads a whole incoming body. A body that breaks off midway is an error: the hop that
    /// reads it reports a reset, as Envoy does for a truncated upstream response.
    pub async fn collect<B>(body: B) -> Result<Payload, B::Error>
    where
        B: Body<Data = Bytes>,
    {
        let collected = body.collect().await?;
        let trailers = collected.trailers().cloned();
        Ok(Payload {
            data: Some(collected.to_bytes()),
            trailers,
        })
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(data) = this.data.take()
            && !data.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(Bytes::is_empty) && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let len = self.data.as_ref().map_or(0, Bytes::len);
        SizeHint::with_exact(u64::try_from(len).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_data_and_trailers() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", http::HeaderValue::from_static("14"));
        let p = Payload::new(Bytes::from_static(b"hello")).with_trailers(t);
        assert_eq!(p.size_hint().exact(), Some(5));
        let back = Payload::collect(p).await.expect("infallible");
        assert_eq!(back.data(), b"hello");
        assert_eq!(
            back.trailers().and_then(|t| t.get("grpc-status")),
            Some(&http::HeaderValue::from_static("14"))
        );
        assert_eq!(Payload::filler(20_000).data().len(), 20_000);
        assert!(Payload::empty().is_end_stream());
    }
}
