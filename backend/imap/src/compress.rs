//! COMPRESS=DEFLATE (RFC 4978): after the tagged OK, both directions are raw DEFLATE
//! (RFC 1951, no zlib header). Output is flushed with a sync flush each time the session
//! flushes, so every response reaches the client whole.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

pub(crate) struct Deflate {
    out: Compress,
    inp: Decompress,
}

impl Deflate {
    pub fn new() -> Deflate {
        Deflate {
            out: Compress::new(Compression::fast(), false),
            inp: Decompress::new(false),
        }
    }

    /// Compresses `data` and ends with a sync flush.
    pub fn compress(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let before = self.out.total_in();
            self.out
                .compress_vec(&data[pos..], &mut out, FlushCompress::Sync)
                .map_err(std::io::Error::other)?;
            pos += (self.out.total_in() - before) as usize;
            // The flush is complete once all input is taken and output space was left over.
            if pos >= data.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Decompresses what arrived; a stream that is not DEFLATE is an error.
    pub fn decompress(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() * 4 + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let (bin, bout) = (self.inp.total_in(), self.inp.total_out());
            self.inp
                .decompress_vec(&data[pos..], &mut out, FlushDecompress::Sync)
                .map_err(std::io::Error::other)?;
            pos += (self.inp.total_in() - bin) as usize;
            let produced = self.inp.total_out() - bout;
            if pos >= data.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if produced == 0 && self.inp.total_in() == bin && out.len() < out.capacity() {
                // No progress with room to spare: the rest is an incomplete block.
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_in_pieces() {
        let mut a = super::Deflate::new();
        let mut b = super::Deflate::new();
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let z = a.compress(&text).unwrap();
        let mut got = Vec::new();
        for piece in z.chunks(1000) {
            got.extend(b.decompress(piece).unwrap());
        }
        assert_eq!(got, text);
        let z2 = a.compress(b"a2 NOOP\r\n").unwrap();
        assert_eq!(b.decompress(&z2).unwrap(), b"a2 NOOP\r\n");
    }
}
