//! `patchbay.v1.StatusEnvelope`, written by hand so the server can answer
//! with bytes it encoded once: GetProjectStatus for an unchanged project
//! then costs a reference count, not a rebuild and re-encode of every item.
//! On the wire it is exactly the message of `status.proto`; clients decode
//! it like any other.

use prost::{
    DecodeError, Message,
    bytes::{Buf, BufMut, Bytes},
    encoding::{self, DecodeContext, WireType},
};

use crate::proto::v1::IntegrationStatus;

/// See `StatusEnvelope` in `proto/patchbay/v1/status.proto`.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct StatusEnvelope {
    pub project: String,
    pub items: Vec<IntegrationStatus>,
    pub overall: i32,
    pub hash: String,
    pub render_hash: String,
    pub not_modified: bool,
    pub seq: i64,
    pub stale: bool,
    /// Fields 1 to 6 already encoded (server side only); when set, the
    /// fields above but `seq` and `stale` are not consulted.
    pub pre_encoded: Option<Bytes>,
}

impl StatusEnvelope {
    /// This envelope with fields 1 to 6 encoded once, for cheap re-sending
    /// with a fresh `seq`.
    pub fn pre_encode(&self) -> Bytes {
        let fields = Self {
            seq: 0,
            stale: false,
            pre_encoded: None,
            ..self.clone()
        };
        Bytes::from(fields.encode_to_vec())
    }
}

impl Message for StatusEnvelope {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match &self.pre_encoded {
            Some(bytes) => buf.put_slice(bytes),
            None => {
                if !self.project.is_empty() {
                    encoding::string::encode(1, &self.project, buf);
                }
                encoding::message::encode_repeated(2, &self.items, buf);
                if self.overall != 0 {
                    encoding::int32::encode(3, &self.overall, buf);
                }
                if !self.hash.is_empty() {
                    encoding::string::encode(4, &self.hash, buf);
                }
                if !self.render_hash.is_empty() {
                    encoding::string::encode(5, &self.render_hash, buf);
                }
                if self.not_modified {
                    encoding::bool::encode(6, &self.not_modified, buf);
                }
            }
        }
        if self.seq != 0 {
            encoding::int64::encode(7, &self.seq, buf);
        }
        if self.stale {
            encoding::bool::encode(8, &self.stale, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.project, buf, ctx),
            2 => encoding::message::merge_repeated(wire_type, &mut self.items, buf, ctx),
            3 => encoding::int32::merge(wire_type, &mut self.overall, buf, ctx),
            4 => encoding::string::merge(wire_type, &mut self.hash, buf, ctx),
            5 => encoding::string::merge(wire_type, &mut self.render_hash, buf, ctx),
            6 => encoding::bool::merge(wire_type, &mut self.not_modified, buf, ctx),
            7 => encoding::int64::merge(wire_type, &mut self.seq, buf, ctx),
            8 => encoding::bool::merge(wire_type, &mut self.stale, buf, ctx),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let fields = match &self.pre_encoded {
            Some(bytes) => bytes.len(),
            None => {
                (if self.project.is_empty() {
                    0
                } else {
                    encoding::string::encoded_len(1, &self.project)
                }) + encoding::message::encoded_len_repeated(2, &self.items)
                    + (if self.overall == 0 {
                        0
                    } else {
                        encoding::int32::encoded_len(3, &self.overall)
                    })
                    + (if self.hash.is_empty() {
                        0
                    } else {
                        encoding::string::encoded_len(4, &self.hash)
                    })
                    + (if self.render_hash.is_empty() {
                        0
                    } else {
                        encoding::string::encoded_len(5, &self.render_hash)
                    })
                    + (if self.not_modified {
                        encoding::bool::encoded_len(6, &self.not_modified)
                    } else {
                        0
                    })
            }
        };
        fields
            + if self.seq == 0 {
                0
            } else {
                encoding::int64::encoded_len(7, &self.seq)
            }
            + if self.stale {
                encoding::bool::encoded_len(8, &self.stale)
            } else {
                0
            }
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_encoded_and_built_envelopes_are_the_same_bytes() {
        let envelope = StatusEnvelope {
            project: "projects/acme".into(),
            items: vec![IntegrationStatus {
                connection: "projects/acme/connections/web".into(),
                summary: "fine".into(),
                ..Default::default()
            }],
            overall: 1,
            hash: "h".into(),
            render_hash: "r".into(),
            not_modified: false,
            seq: 42,
            stale: true,
            pre_encoded: None,
        };
        let cached = StatusEnvelope {
            seq: 42,
            stale: true,
            pre_encoded: Some(envelope.pre_encode()),
            ..Default::default()
        };
        assert_eq!(cached.encode_to_vec(), envelope.encode_to_vec());
        assert_eq!(cached.encoded_len(), envelope.encoded_len());
        let decoded = StatusEnvelope::decode(cached.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded, envelope);
    }
}
