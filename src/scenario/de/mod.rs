//! A serde `Deserializer` over the spanned document tree.
//!
//! The model's config types are plain serde structs (so they also load from JSON in tests), but
//! a scenario file needs its errors at a line and column with a field path. Deserializing from
//! the tree instead of from text gives both: every node knows its span, and the deserializer
//! knows the path it walked. An error raised while a node is being read is stamped with that
//! node's place as it passes back up; errors stamped deeper down keep their place.
//!
//! Scalars are typed the YAML 1.2 core-schema way the config loader uses: a plain `42` is a
//! number, `"42"` a string. Nothing is converted on the reader's behalf, because a scenario
//! that silently means something else is worse than one that does not load.

mod error;

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

use error::one_of;
pub(crate) use error::{DeError, ErrorKind, Place};

use crate::config::source::Span;
use crate::config::tree::{
    Key, Node, PlainType, Style, Value, join_index, join_key, parse_int, plain_type,
};

/// The newtype name [`Text`] asks for: this deserializer answers it with the scalar's text as
/// written, whatever its type.
const TEXT_MARKER: &str = "$meshsim::scenario::Text";

/// Deserializes `T` from a node whose field path is `path`.
pub(crate) fn from_node<'de, T: de::Deserialize<'de>>(
    node: &'de Node,
    path: &str,
    key: Option<Span>,
) -> Result<T, DeError> {
    T::deserialize(NodeDe {
        node,
        path: path.to_string(),
        key,
    })
}

/// A scalar's text as written, whatever its YAML type (for `vars` and `params`, which are
/// text substituted into other files: `PORT: 8080` means the text `8080`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Text(pub String);

impl<'de> de::Deserialize<'de> for Text {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_newtype_struct(TEXT_MARKER, TextVisitor)
    }
}

/// Reads one node.
struct NodeDe<'de> {
    node: &'de Node,
    path: String,
    /// The key whose value this node is.
    key: Option<Span>,
}

impl<'de> NodeDe<'de> {
    fn child(&self, key: &'de Key, node: &'de Node) -> NodeDe<'de> {
        NodeDe {
            node,
            path: join_key(&self.path, &key.written),
            key: Some(key.span),
        }
    }

    fn place(&self, e: DeError) -> DeError {
        e.placed(self.node, &self.path, self.key)
    }

    fn any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = self.node;
        let result = match &node.value {
            Value::Scalar(s, Style::Quoted) => visitor.visit_borrowed_str(s.as_str()),
            Value::Scalar(s, Style::Plain) => match plain_type(s) {
                PlainType::Null => visitor.visit_unit(),
                PlainType::Bool => visitor.visit_bool(s.eq_ignore_ascii_case("true")),
                PlainType::Int => match parse_int(s) {
                    Some(i) => match u64::try_from(i) {
                        Ok(u) => visitor.visit_u64(u),
                        Err(_) => visitor.visit_i64(i),
                    },
                    None => match s.strip_prefix('+').unwrap_or(s).parse::<u64>() {
                        Ok(u) => visitor.visit_u64(u),
                        Err(_) => Err(DeError::new(
                            ErrorKind::Value,
                            format!("the integer `{s}` is out of range"),
                        )),
                    },
                },
                PlainType::Float => visitor.visit_f64(parse_float(s)),
                PlainType::String => visitor.visit_borrowed_str(s.as_str()),
            },
            Value::Seq(items) => {
                return self.seq(items, visitor);
            }
            Value::Map(entries) => visitor.visit_map(MapDe {
                parent: &self,
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| self.place(e))
    }

    fn seq<V: Visitor<'de>>(self, items: &'de [Node], visitor: V) -> Result<V::Value, DeError> {
        let mut access = SeqDe {
            path: &self.path,
            items: items.iter().enumerate(),
        };
        let result = visitor.visit_seq(&mut access).and_then(|v| {
            let left = access.items.len();
            if left == 0 {
                Ok(v)
            } else {
                Err(de::Error::invalid_length(items.len(), &"fewer items"))
            }
        });
        result.map_err(|e| self.place(e))
    }
}

/// YAML 1.2 core-schema floats, including the `.inf` and `.nan` spellings Rust does not read.
fn parse_float(s: &str) -> f64 {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" => f64::INFINITY,
        "-.inf" => f64::NEG_INFINITY,
        ".nan" | ".NaN" | ".NAN" => f64::NAN,
        _ => s.parse().unwrap_or(f64::NAN),
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none().map_err(|e| self.place(e))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name != TEXT_MARKER {
            return visitor.visit_newtype_struct(self);
        }
        let result = match &self.node.value {
            Value::Scalar(s, _) if !self.node.is_null() => visitor.visit_borrowed_str(s.as_str()),
            _ => Err(de::Error::invalid_type(
                unexpected(self.node),
                &"a string, number or boolean",
            )),
        };
        result.map_err(|e| self.place(e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(EnumDe {
                    parent: &self,
                    key,
                    value,
                })
            }
            Value::Map(entries) => {
                let mut e = DeError::new(
                    ErrorKind::Type,
                    format!(
                        "expected exactly one key, {}, found {}",
                        one_of(variants),
                        entries.len()
                    ),
                );
                if let Some((second, _)) = entries.get(1) {
                    e.at = Some(Place {
                        span: second.span,
                        path: join_key(&self.path, &second.written),
                    });
                }
                Err(e)
            }
            _ => match self.node.as_str() {
                Some(s) => visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(s)),
                None => Err(de::Error::invalid_type(
                    unexpected(self.node),
                    &format!("{} (a name or a one-key mapping)", one_of(variants)).as_str(),
                )),
            },
        };
        result.map_err(|e| self.place(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// What serde calls a node, for type errors raised here.
fn unexpected(node: &Node) -> Unexpected<'_> {
    match &node.value {
        Value::Seq(_) => Unexpected::Seq,
        Value::Map(_) => Unexpected::Map,
        Value::Scalar(s, Style::Quoted) => Unexpected::Str(s),
        Value::Scalar(s, Style::Plain) => match plain_type(s) {
            PlainType::Null => Unexpected::Unit,
            PlainType::Bool => Unexpected::Bool(s.eq_ignore_ascii_case("true")),
            PlainType::Int | PlainType::Float => Unexpected::Other("a number"),
            PlainType::String => Unexpected::Str(s),
        },
    }
}

struct SeqDe<'a, 'de> {
    path: &'a str,
    items: std::iter::Enumerate<std::slice::Iter<'de, Node>>,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, 'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(NodeDe {
            node,
            path: join_index(self.path, i),
            key: None,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'de> {
    parent: &'a NodeDe<'de>,
    entries: std::slice::Iter<'de, (Key, Node)>,
    value: Option<(&'de Key, &'de Node)>,
}

impl<'de> de::MapAccess<'de> for MapDe<'_, 'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        key_seed(seed, key, &self.parent.path).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some((key, node)) => seed.deserialize(self.parent.child(key, node)),
            None => Err(de::Error::custom("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Reads a key as a string; an error about it (an unknown field) points at the key.
fn key_seed<'de, K: DeserializeSeed<'de>>(
    seed: K,
    key: &'de Key,
    parent: &str,
) -> Result<K::Value, DeError> {
    let d: de::value::BorrowedStrDeserializer<'de, DeError> =
        de::value::BorrowedStrDeserializer::new(key.name.as_str());
    seed.deserialize(d).map_err(|mut e| {
        if e.at.is_none() {
            e.at = Some(Place {
                span: key.span,
                path: join_key(parent, &key.written),
            });
        }
        e
    })
}

struct EnumDe<'a, 'de> {
    parent: &'a NodeDe<'de>,
    key: &'de Key,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for EnumDe<'_, 'de> {
    type Error = DeError;
    type Variant = NodeDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'de>), DeError> {
        let v = key_seed(seed, self.key, &self.parent.path)?;
        Ok((v, self.parent.child(self.key, self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        if self.node.is_null() {
            Ok(())
        } else {
            Err(self.place(DeError::new(
                ErrorKind::Type,
                format!("expected nothing here, found {}", self.node.describe()),
            )))
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests;
