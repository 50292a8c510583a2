//! What a session writes: responses encoded by imap-codec into a buffer, sent when a command
//! ends (or sooner, when a long FETCH has produced enough), compressed under COMPRESS.

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::response::{Code, CommandContinuationRequest, Data, Response, Status};
use tokio::io::AsyncWriteExt;

use crate::reply::{Reply, clean};
use crate::session::{Next, Session};

impl Session {
    pub fn send(&mut self, r: &Response<'_>) {
        for f in ResponseCodec::new().encode(r) {
            match f {
                imap_codec::encode::Fragment::Line { data }
                | imap_codec::encode::Fragment::Literal { data, .. } => {
                    self.out.extend_from_slice(&data)
                }
            }
        }
    }

    /// Bytes already encoded (a FETCH line built around cached items).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub fn data(&mut self, d: Data<'_>) {
        self.send(&Response::Data(d));
    }

    /// A data response with more appended before its line end (extended data items the
    /// codec's types do not carry yet, e.g. LIST's CHILDINFO).
    pub fn data_with(&mut self, d: Data<'_>, extra: &[u8]) {
        let start = self.out.len();
        self.data(d);
        if self.out.ends_with(b"\r\n") && self.out.len() >= start + 2 {
            let end = self.out.len() - 2;
            self.out.truncate(end);
            self.out.extend_from_slice(extra);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    pub fn continue_req(&mut self, text: &str) {
        let r = CommandContinuationRequest::basic(None, text).expect("valid continuation");
        self.send(&Response::CommandContinuationRequest(r));
    }

    pub fn untagged_ok(&mut self, code: Option<Code<'static>>, text: &str) {
        let s = Status::ok(None, code, clean(text)).expect("clean text");
        self.send(&Response::Status(s));
    }

    pub(crate) fn tagged(&mut self, tag: Tag<'static>, reply: Reply) -> Next {
        let status = match reply {
            Reply::Then(next) => return next,
            Reply::Ok(code, text) => Status::ok(Some(tag), code, clean(&text)),
            Reply::No(code, text) => Status::no(Some(tag), code, clean(&text)),
            Reply::Bad(code, text) => {
                self.errors += 1;
                Status::bad(Some(tag), code, clean(&text))
            }
        }
        .expect("clean text");
        self.send(&Response::Status(status));
        if self.errors > self.shared.config.max_errors {
            self.bye("Too many bad commands");
            return Next::Close;
        }
        Next::Continue
    }

    pub fn bye(&mut self, text: &str) {
        let s = Status::bye(None, clean(text)).expect("clean text");
        self.send(&Response::Status(s));
    }

    /// Sends what is pending; returns false once the connection is gone.
    pub(crate) async fn flush(&mut self) -> bool {
        if !self.out.is_empty() && !self.broken {
            let compressed = match self.deflate.as_mut() {
                Some(d) => match d.compress(&self.out) {
                    Ok(z) => Some(z),
                    Err(_) => {
                        self.broken = true;
                        return false;
                    }
                },
                None => None,
            };
            let Some(w) = self.writer.as_mut() else {
                return false;
            };
            let bytes = compressed.as_deref().unwrap_or(&self.out);
            if w.write_all(bytes).await.is_err() || w.flush().await.is_err() {
                self.broken = true;
            }
        }
        self.out.clear();
        // A session between commands keeps no output buffer of any size (thousands of IDLE
        // sessions each would): the next response allocates again.
        if self.out.capacity() > 4 * 1024 {
            self.out = Vec::new();
        }
        !self.broken
    }

    /// Sends what is pending, then `segments` as they are (message bytes as read from the
    /// blob store, with the response text between them) in vectored writes: a large FETCH
    /// BODY[] is not copied through the output buffer. Under COMPRESS they are copied into it.
    pub async fn push_segments(&mut self, segments: &[bytes::Bytes]) {
        if self.deflate.is_some() {
            for s in segments {
                self.out.extend_from_slice(s);
            }
            self.flush_if_large().await;
            return;
        }
        if !self.flush().await {
            return;
        }
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        // The kernel takes at most 1,024 pieces a call (IOV_MAX).
        for group in segments.chunks(512) {
            let mut slices: Vec<std::io::IoSlice<'_>> =
                group.iter().map(|s| std::io::IoSlice::new(s)).collect();
            let mut left = &mut slices[..];
            while !left.is_empty() {
                match w.write_vectored(left).await {
                    Ok(0) | Err(_) => {
                        self.broken = true;
                        return;
                    }
                    Ok(n) => std::io::IoSlice::advance_slices(&mut left, n),
                }
            }
        }
    }

    /// Sends pending output once it is large: for handlers that produce a lot.
    pub async fn flush_if_large(&mut self) {
        if self.out.len() >= 256 * 1024 {
            self.flush().await;
        }
    }

    pub(crate) fn untagged_bad(&mut self, text: &str) -> Next {
        self.errors += 1;
        let s = Status::bad(None, None, clean(text)).expect("clean text");
        self.send(&Response::Status(s));
        if self.errors > self.shared.config.max_errors {
            self.bye("Too many bad commands");
            return Next::Close;
        }
        Next::Continue
    }
}
