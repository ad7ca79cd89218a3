//! Header-only readers for safetensors and GGUF: they read the bytes a header occupies
//! (through ranged reads of the LFS object) and never the tensor data.

use std::collections::BTreeMap;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::zip::ReadAt;

/// The safetensors crate's cap on the JSON header.
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub tensors: Vec<Tensor>,
    /// Parameters per dtype, as the Hub counts them (sum of shape products; 0-rank skipped).
    pub parameters: BTreeMap<String, u64>,
    pub total: u64,
    /// Bytes of tensor data the header describes.
    pub data_len: u64,
    pub architecture: Option<String>,
    pub quantization: Option<String>,
}

/// Reads and checks a safetensors header with the safetensors crate's own rules, and that the
/// file is exactly as long as the header says (`8 + N + end of the last tensor`).
pub fn safetensors(read: ReadAt<'_>, size: u64) -> Result<Summary, String> {
    if size < 8 {
        return Err(format!(
            "the file is {size} bytes, shorter than the 8-byte header length"
        ));
    }
    let head = read(0, 8).ok_or("cannot read the header length")?;
    let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    if n > MAX_SAFETENSORS_HEADER {
        return Err(format!(
            "the header length {n} is over the {MAX_SAFETENSORS_HEADER}-byte cap"
        ));
    }
    if 8 + n > size {
        return Err(format!(
            "the header length {n} runs past the end of the {size}-byte file (truncated?)"
        ));
    }
    let header = read(8, n).ok_or("cannot read the header")?;
    let text = std::str::from_utf8(&header).map_err(|e| format!("the header is not UTF-8: {e}"))?;
    if let Some(dup) = duplicate_key(text)? {
        return Err(format!(
            "the tensor name {dup:?} appears twice in the header"
        ));
    }
    let meta: safetensors::tensor::Metadata =
        serde_json::from_str(text).map_err(|e| format!("invalid header: {e}"))?;
    let data_len = meta.data_len() as u64;
    if 8 + n + data_len != size {
        return Err(format!(
            "the header describes {data_len} bytes of tensors, so the file should be {} bytes, but it is {size}",
            8 + n + data_len
        ));
    }
    let mut summary = Summary {
        data_len,
        ..Summary::default()
    };
    let mut infos: Vec<_> = meta.tensors().into_iter().collect();
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, info) in infos {
        let dtype = format!("{:?}", info.dtype);
        let shape: Vec<u64> = info.shape.iter().map(|d| *d as u64).collect();
        let count: u64 = shape.iter().product();
        if !shape.is_empty() {
            *summary.parameters.entry(dtype.clone()).or_default() += count;
            summary.total += count;
        }
        let bytes = (info.data_offsets.1 - info.data_offsets.0) as u64;
        summary.tensors.push(Tensor {
            name,
            dtype,
            shape,
            bytes,
        });
    }
    Ok(summary)
}

/// The first key that occurs twice at the top level of a JSON object (serde's maps keep the
/// last silently, so duplicates are looked for first).
fn duplicate_key(text: &str) -> Result<Option<String>, String> {
    struct Dup(Option<String>);
    impl<'de> serde::Deserialize<'de> for Dup {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Dup;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dup, A::Error> {
                    let mut seen = std::collections::HashSet::new();
                    while let Some(k) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        if !seen.insert(k.clone()) {
                            return Ok(Dup(Some(k)));
                        }
                    }
                    Ok(Dup(None))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Dup>(text)
        .map(|d| d.0)
        .map_err(|e| format!("invalid header: {e}"))
}

/// GGUF value types.
const GGUF_STRING: u32 = 8;
const GGUF_ARRAY: u32 = 9;
const MAX_GGUF_HEADER: u64 = 64 << 20;

/// GGML tensor type names, for the quantization summary.
fn ggml_type(t: u32) -> String {
    let names = [
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K",
        "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
        "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16",
    ];
    names
        .get(t as usize)
        .map_or_else(|| format!("type{t}"), |s| (*s).to_owned())
}

/// A bounds-checked little-endian cursor over the header bytes read so far.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cur<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], Truncated> {
        let n = usize::try_from(n).map_err(|_| Truncated)?;
        let s = self
            .b
            .get(self.at..self.at.checked_add(n).ok_or(Truncated)?)
            .ok_or(Truncated)?;
        self.at += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, Truncated> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn string(&mut self) -> Result<String, Truncated> {
        let n = self.u64()?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

#[derive(Debug)]
struct Truncated;

/// Reads a GGUF header (magic, version, tensor count, metadata, tensor infos), growing the
/// read until it is complete or the header cap is reached.
pub fn gguf(read: ReadAt<'_>, size: u64) -> Result<Summary, String> {
    let mut want = size.min(1 << 20);
    loop {
        let bytes = read(0, want).ok_or("cannot read the header")?;
        match parse_gguf(&bytes)? {
            Some(s) => return Ok(s),
            None if want < size && want < MAX_GGUF_HEADER => {
                want = (want * 4).min(size).min(MAX_GGUF_HEADER)
            }
            None => {
                return Err(format!(
                    "the header is truncated or over {MAX_GGUF_HEADER} bytes"
                ))
            }
        }
    }
}

fn parse_gguf(b: &[u8]) -> Result<Option<Summary>, String> {
    let mut c = Cur { b, at: 0 };
    let r = (|| -> Result<Result<Summary, String>, Truncated> {
        if c.take(4)? != b"GGUF" {
            return Ok(Err("the file does not start with the GGUF magic".into()));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Ok(Err(format!("unsupported GGUF version {version}")));
        }
        let tensors = c.u64()?;
        let kvs = c.u64()?;
        if tensors > 10_000_000 || kvs > 10_000_000 {
            return Ok(Err(format!(
                "implausible counts: {tensors} tensors, {kvs} metadata keys"
            )));
        }
        let mut s = Summary::default();
        for _ in 0..kvs {
            let key = c.string()?;
            let t = c.u32()?;
            if t == GGUF_STRING {
                let v = c.string()?;
                if key == "general.architecture" {
                    s.architecture = Some(v);
                }
            } else if t == GGUF_ARRAY {
                let (et, n) = (c.u32()?, c.u64()?);
                for _ in 0..n {
                    if et == GGUF_STRING {
                        c.string()?;
                    } else {
                        c.take(scalar_size(et).ok_or(Truncated)?)?;
                    }
                }
            } else {
                match scalar_size(t) {
                    Some(n) => {
                        c.take(n)?;
                    }
                    None => return Ok(Err(format!("metadata key {key:?} has unknown type {t}"))),
                }
            }
        }
        let mut types: BTreeMap<String, u64> = BTreeMap::new();
        for _ in 0..tensors {
            let name = c.string()?;
            let dims = c.u32()?;
            if dims > 8 {
                return Ok(Err(format!("tensor {name:?} has {dims} dimensions")));
            }
            let mut count: Option<u64> = Some(1);
            for _ in 0..dims {
                let d = c.u64()?;
                count = count.and_then(|n| n.checked_mul(d));
            }
            let ty = ggml_type(c.u32()?);
            c.u64()?; // offset
                      // A shape whose element count, or the file's total, overflows 64 bits is a lie.
            let impossible = || format!("tensor {name:?} has an impossible shape");
            let Some(count) = count else {
                return Ok(Err(impossible()));
            };
            let Some(total) = s.total.checked_add(count) else {
                return Ok(Err(impossible()));
            };
            s.total = total;
            let by_type = types.entry(ty.clone()).or_default();
            *by_type = by_type.saturating_add(count);
            let params = s.parameters.entry(ty).or_default();
            *params = params.saturating_add(count);
            s.tensors.push(Tensor {
                name,
                dtype: String::new(),
                shape: Vec::new(),
                bytes: 0,
            });
        }
        s.quantization = types.into_iter().max_by_key(|(_, n)| *n).map(|(t, _)| t);
        Ok(Ok(s))
    })();
    match r {
        Ok(Ok(s)) => Ok(Some(s)),
        Ok(Err(e)) => Err(e),
        Err(Truncated) => Ok(None),
    }
}

fn scalar_size(t: u32) -> Option<u64> {
    match t {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}
