//! A reader of Python pickles that builds a tree of plain values and never rebuilds an object:
//! a global is kept as its module and name, a call (`REDUCE`, `NEWOBJ`) as the callable and its
//! arguments, with the items, elements and state later opcodes give it. So a pickle that names
//! classes and functions no reader could import (dill pickles lambdas and `argparse.Namespace`s
//! by value) is read past, and only the parts a caller interprets must make sense.
//!
//! It knows the binary opcodes of protocols 1–5 but the extension registry's
//! (`EXT1`, `EXT2`, `EXT4`, which torch never writes), and the text ones Python's own pickler
//! still writes at those protocols (`GLOBAL`, `INT`, `LONG`, `FLOAT`, `GET`, `PUT`); anything
//! else is an error naming the opcode and its byte offset. Values live in one arena addressed by
//! [`Id`], so the memo and the stack share mutable containers exactly as Python's do (a dict is
//! memoised empty, then filled by `SETITEMS`).

use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::io::Read;

/// A value's index in its [`Pickle`].
pub type Id = usize;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond i64, as little-endian two's-complement bytes (`LONG1`, `LONG4`).
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    Global {
        module: String,
        name: String,
    },
    /// `callable(*args)`, not called; what later opcodes add to the result is kept beside it.
    Object {
        callable: Id,
        args: Id,
        items: Vec<(Id, Id)>,
        elements: Vec<Id>,
        state: Option<Id>,
    },
    /// A persistent id (`BINPERSID`): the caller's reference to data outside the pickle.
    Persistent(Id),
}

/// One pickle's values and the object it describes.
#[derive(Debug)]
pub struct Pickle {
    arena: Vec<Value>,
    root: Id,
}

impl Pickle {
    pub fn root(&self) -> Id {
        self.root
    }

    pub fn get(&self, id: Id) -> &Value {
        &self.arena[id]
    }

    /// Every value's id.
    pub fn ids(&self) -> std::ops::Range<Id> {
        0..self.arena.len()
    }

    /// `id` as a string, if it is one.
    pub fn str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `id` as an integer that fits i64.
    pub fn int(&self, id: Id) -> Option<i64> {
        match self.get(id) {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// `id` as a tuple's (or a list's) elements.
    pub fn tuple(&self, id: Id) -> Option<&[Id]> {
        match self.get(id) {
            Value::Tuple(v) | Value::List(v) => Some(v),
            _ => None,
        }
    }

    /// `id` as a global's `module.name`.
    pub fn global(&self, id: Id) -> Option<String> {
        match self.get(id) {
            Value::Global { module, name } => Some(format!("{module}.{name}")),
            _ => None,
        }
    }

    /// The (key, value) items of a dict, or of an object rebuilt as one (an `OrderedDict`).
    pub fn dict_items(&self, id: Id) -> Option<&[(Id, Id)]> {
        match self.get(id) {
            Value::Dict(items) => Some(items),
            Value::Object { callable, items, .. }
                if self.global(*callable).as_deref() == Some("collections.OrderedDict") =>
            {
                Some(items)
            }
            _ => None,
        }
    }

    /// The value under string key `key` of a dict-like value (the last, as Python keeps it).
    pub fn lookup(&self, id: Id, key: &str) -> Option<Id> {
        self.dict_items(id)?.iter().rev().find(|(k, _)| self.str(*k) == Some(key)).map(|(_, v)| *v)
    }

    /// The items of `collections.OrderedDict(pairs)` when `args` is `(pairs,)`, a list of
    /// two-element lists or tuples; none otherwise.
    fn ordered_dict_pairs(&self, callable: Id, args: Id) -> Vec<(Id, Id)> {
        if self.global(callable).as_deref() != Some("collections.OrderedDict") {
            return vec![];
        }
        let Some([pairs]) = self.tuple(args) else { return vec![] };
        let pairs = self.tuple(*pairs).unwrap_or_default();
        pairs
            .iter()
            .map_while(|&pair| match self.tuple(pair)? {
                [k, v] => Some((*k, *v)),
                _ => None,
            })
            .collect()
    }

    /// A short description of a value for error messages: its kind, and a global's name.
    pub fn describe(&self, id: Id) -> String {
        match self.get(id) {
            Value::Object { callable, .. } => match self.global(*callable) {
                Some(g) => format!("a call of {g}"),
                None => "a call".into(),
            },
            Value::Global { module, name } => format!("the global {module}.{name}"),
            other => {
                let name = format!("{other:?}");
                name.split(['(', ' ', '{']).next().unwrap_or("a value").to_lowercase()
            }
        }
    }

    fn push(&mut self, v: Value) -> Id {
        self.arena.push(v);
        self.arena.len() - 1
    }
}

/// Bytes read so far, for error messages.
struct Counted<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Counted<R> {
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        // `take` grows the buffer with what arrives, so a corrupt length cannot allocate much.
        let mut buf = Vec::new();
        (&mut self.inner).take(n).read_to_end(&mut buf)?;
        ensure!(buf.len() as u64 == n, "the pickle ends inside a value (truncated file)");
        self.at += n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.bytes(N as u64)?.try_into().expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A text line without its `\n`.
    fn line(&mut self) -> Result<String> {
        let mut out = Vec::new();
        loop {
            match self.u8()? {
                b'\n' => break,
                b => out.push(b),
            }
            ensure!(out.len() < 1 << 16, "a text line of over 64 KiB (not a pickle)");
        }
        String::from_utf8(out).context("a text line that is not UTF-8")
    }

    fn utf8(&mut self, n: u64) -> Result<String> {
        String::from_utf8(self.bytes(n)?).context("a string that is not UTF-8")
    }
}

/// An integer from little-endian two's-complement bytes (`LONG1`, `LONG4`).
fn long(bytes: Vec<u8>) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() > 8 {
        return Value::BigInt(bytes);
    }
    let fill = if bytes[bytes.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
    let mut word = [fill; 8];
    word[..bytes.len()].copy_from_slice(&bytes);
    Value::Int(i64::from_le_bytes(word))
}

/// Reads one pickle from `r`, up to and including its `STOP`.
pub fn read(r: impl Read) -> Result<Pickle> {
    let mut r = Counted { inner: r, at: 0 };
    let mut p = Pickle { arena: Vec::new(), root: 0 };
    let mut stack: Vec<Id> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut memo: HashMap<u64, Id> = HashMap::new();
    loop {
        let at = r.at;
        let op = r.u8().context("the file ends before the pickle's STOP (truncated file)")?;
        step(op, &mut r, &mut p, &mut stack, &mut marks, &mut memo).with_context(|| {
            format!("pickle opcode {:#04x} ({:?}) at byte {at}", op, char::from(op))
        })?;
        if op == b'.' {
            p.root = stack.pop().context("STOP with an empty stack")?;
            return Ok(p);
        }
    }
}

/// One opcode.
fn step<R: Read>(
    op: u8,
    r: &mut Counted<R>,
    p: &mut Pickle,
    stack: &mut Vec<Id>,
    marks: &mut Vec<usize>,
    memo: &mut HashMap<u64, Id>,
) -> Result<()> {
    let pop = |stack: &mut Vec<Id>| stack.pop().context("the stack is empty");
    // Everything above the last MARK, which is removed.
    let pop_mark = |stack: &mut Vec<Id>, marks: &mut Vec<usize>| -> Result<Vec<Id>> {
        let at = marks.pop().context("no MARK to pop to")?;
        ensure!(at <= stack.len(), "a MARK above the stack");
        Ok(stack.split_off(at))
    };
    let top = |stack: &Vec<Id>| stack.last().copied().context("the stack is empty");
    let value = match op {
        b'.' => return Ok(()), // STOP: the caller takes the result
        0x80 => {
            let proto = r.u8()?;
            ensure!(proto <= 5, "pickle protocol {proto} (this reader knows 0 to 5)");
            return Ok(());
        }
        0x95 => {
            r.u64()?; // FRAME: a length hint only
            return Ok(());
        }
        b'(' => {
            marks.push(stack.len());
            return Ok(());
        }
        b'0' => {
            // With nothing pushed since the last mark, Python pops the mark.
            if marks.last() == Some(&stack.len()) {
                marks.pop();
            } else {
                pop(stack)?;
            }
            return Ok(());
        }
        b'1' => {
            pop_mark(stack, marks)?;
            return Ok(());
        }
        b'2' => {
            stack.push(top(stack)?);
            return Ok(());
        }
        // Memo.
        b'q' | b'r' | b'p' | 0x94 => {
            let index = match op {
                b'q' => u64::from(r.u8()?),
                b'r' => u64::from(r.u32()?),
                b'p' => r.line()?.trim().parse().context("PUT index")?,
                _ => memo.len() as u64,
            };
            memo.insert(index, top(stack)?);
            return Ok(());
        }
        b'h' | b'j' | b'g' => {
            let index = match op {
                b'h' => u64::from(r.u8()?),
                b'j' => u64::from(r.u32()?),
                _ => r.line()?.trim().parse().context("GET index")?,
            };
            stack.push(*memo.get(&index).with_context(|| format!("memo entry {index} is unset"))?);
            return Ok(());
        }
        // Scalars.
        b'N' => Value::None,
        0x88 => Value::Bool(true),
        0x89 => Value::Bool(false),
        b'J' => Value::Int(i64::from(i32::from_le_bytes(r.array()?))),
        b'K' => Value::Int(i64::from(r.u8()?)),
        b'M' => Value::Int(i64::from(u16::from_le_bytes(r.array()?))),
        b'I' => match r.line()?.as_str() {
            "00" => Value::Bool(false),
            "01" => Value::Bool(true),
            text => Value::Int(text.trim().parse().context("INT value")?),
        },
        b'L' => Value::Int(r.line()?.trim_end_matches('L').parse().context("LONG value")?),
        0x8a => {
            let n = r.u8()?;
            long(r.bytes(u64::from(n))?)
        }
        0x8b => {
            let n = i32::from_le_bytes(r.array()?);
            ensure!(n >= 0, "LONG4 with a negative length");
            long(r.bytes(n as u64)?)
        }
        b'G' => Value::Float(f64::from_be_bytes(r.array()?)),
        b'F' => Value::Float(r.line()?.trim().parse().context("FLOAT value")?),
        // Strings and bytes.
        b'X' => {
            let n = r.u32()?;
            Value::Str(r.utf8(u64::from(n))?)
        }
        0x8c => {
            let n = r.u8()?;
            Value::Str(r.utf8(u64::from(n))?)
        }
        0x8d => {
            let n = r.u64()?;
            Value::Str(r.utf8(n)?)
        }
        // Python 2 `str`: bytes, read as text where they are text.
        b'T' | b'U' => {
            let n = if op == b'T' { u64::from(r.u32()?) } else { u64::from(r.u8()?) };
            let b = r.bytes(n)?;
            match String::from_utf8(b) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            }
        }
        b'B' | b'C' | 0x8e | 0x96 => {
            let n = match op {
                b'B' => u64::from(r.u32()?),
                b'C' => u64::from(r.u8()?),
                _ => r.u64()?,
            };
            Value::Bytes(r.bytes(n)?)
        }
        // Containers.
        b']' => Value::List(vec![]),
        b'}' => Value::Dict(vec![]),
        b')' => Value::Tuple(vec![]),
        0x8f => Value::Set(vec![]),
        b'l' => Value::List(pop_mark(stack, marks)?),
        b't' => Value::Tuple(pop_mark(stack, marks)?),
        0x91 => Value::Set(pop_mark(stack, marks)?),
        0x85..=0x87 => {
            let n = usize::from(op - 0x84);
            ensure!(stack.len() >= n, "TUPLE{n} with {} values on the stack", stack.len());
            Value::Tuple(stack.split_off(stack.len() - n))
        }
        b'd' => {
            let flat = pop_mark(stack, marks)?;
            ensure!(flat.len() % 2 == 0, "DICT with an odd number of values");
            Value::Dict(flat.chunks(2).map(|kv| (kv[0], kv[1])).collect())
        }
        b'a' => {
            let v = pop(stack)?;
            return extend(p, top(stack)?, vec![v]);
        }
        b'e' => {
            let values = pop_mark(stack, marks)?;
            return extend(p, top(stack)?, values);
        }
        0x90 => {
            let values = pop_mark(stack, marks)?;
            return extend(p, top(stack)?, values);
        }
        b's' => {
            let v = pop(stack)?;
            let k = pop(stack)?;
            return set_items(p, top(stack)?, vec![(k, v)]);
        }
        b'u' => {
            let flat = pop_mark(stack, marks)?;
            ensure!(flat.len() % 2 == 0, "SETITEMS with an odd number of values");
            let items = flat.chunks(2).map(|kv| (kv[0], kv[1])).collect();
            return set_items(p, top(stack)?, items);
        }
        // Globals, calls and persistent ids.
        b'c' => {
            let module = r.line()?;
            Value::Global { module, name: r.line()? }
        }
        0x93 => {
            let name = pop(stack)?;
            let module = pop(stack)?;
            match (p.str(module), p.str(name)) {
                (Some(m), Some(n)) => Value::Global { module: m.into(), name: n.into() },
                _ => bail!("STACK_GLOBAL of values that are not strings"),
            }
        }
        b'R' | 0x81 => {
            let args = pop(stack)?;
            let callable = pop(stack)?;
            let mut called = object(callable, args);
            // Python 2 pickles an OrderedDict as a call on its `[key, value]` pairs.
            if let Value::Object { items, .. } = &mut called {
                *items = p.ordered_dict_pairs(callable, args);
            }
            called
        }
        0x92 => {
            let _kwargs = pop(stack)?;
            let args = pop(stack)?;
            let callable = pop(stack)?;
            object(callable, args)
        }
        b'o' => {
            let mut values = pop_mark(stack, marks)?;
            ensure!(!values.is_empty(), "OBJ without a class");
            let callable = values.remove(0);
            let args = p.push(Value::Tuple(values));
            object(callable, args)
        }
        b'i' => {
            let module = r.line()?;
            let callable = p.push(Value::Global { module, name: r.line()? });
            let args = Value::Tuple(pop_mark(stack, marks)?);
            let args = p.push(args);
            object(callable, args)
        }
        b'b' => {
            let state = pop(stack)?;
            let target = top(stack)?;
            match &mut p.arena[target] {
                Value::Object { state: s, .. } => *s = Some(state),
                _ => bail!("BUILD on {}", p.describe(target)),
            }
            return Ok(());
        }
        b'Q' => Value::Persistent(pop(stack)?),
        b'P' => {
            let pid = Value::Str(r.line()?);
            Value::Persistent(p.push(pid))
        }
        _ => bail!("an opcode this reader does not know"),
    };
    let id = p.push(value);
    stack.push(id);
    Ok(())
}

fn object(callable: Id, args: Id) -> Value {
    Value::Object { callable, args, items: vec![], elements: vec![], state: None }
}

/// `APPEND`, `APPENDS`, `ADDITEMS` on the value `target`.
fn extend(p: &mut Pickle, target: Id, values: Vec<Id>) -> Result<()> {
    match &mut p.arena[target] {
        Value::List(v) | Value::Set(v) | Value::Object { elements: v, .. } => v.extend(values),
        _ => bail!("appending to {}", p.describe(target)),
    }
    Ok(())
}

/// `SETITEM`, `SETITEMS` on the value `target`.
fn set_items(p: &mut Pickle, target: Id, new: Vec<(Id, Id)>) -> Result<()> {
    match &mut p.arena[target] {
        Value::Dict(items) | Value::Object { items, .. } => items.extend(new),
        _ => bail!("setting items of {}", p.describe(target)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Byte strings below are what CPython 3.11's pickle.dumps writes (protocol 2 unless said),
    // spelled out with pickletools' names.

    #[test]
    fn scalars_strings_and_containers() {
        // pickle.dumps({"a": [1, -2, 300, 70000], "b": (1.5, None, True), "c": b"xy"}, 3)
        let bytes = b"\x80\x03}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM,\x01J\
p\x11\x01\x00eX\x01\x00\x00\x00bq\x03G?\xf8\x00\x00\x00\x00\x00\x00N\x88\x87q\x04X\x01\x00\
\x00\x00cq\x05C\x02xyq\x06u.";
        let p = read(&bytes[..]).unwrap();
        let a = p.lookup(p.root(), "a").unwrap();
        let ints: Vec<i64> = p.tuple(a).unwrap().iter().map(|&i| p.int(i).unwrap()).collect();
        assert_eq!(ints, vec![1, -2, 300, 70000]);
        let b = p.tuple(p.lookup(p.root(), "b").unwrap()).unwrap().to_vec();
        assert_eq!(
            b.iter().map(|&i| p.get(i).clone()).collect::<Vec<_>>(),
            vec![Value::Float(1.5), Value::None, Value::Bool(true)]
        );
        assert_eq!(p.get(p.lookup(p.root(), "c").unwrap()), &Value::Bytes(b"xy".to_vec()));
    }

    #[test]
    fn the_memo_shares_containers_filled_after_they_were_memoised() {
        // d = {"k": 7}; pickle.dumps([d, d, 2**64], 2): the dict is memoised empty (BINPUT),
        // filled by SETITEM, then fetched again (BINGET).
        let bytes = b"\x80\x02]q\x00(}q\x01X\x01\x00\x00\x00kq\x02K\x07sh\x01\x8a\x09\x00\x00\
\x00\x00\x00\x00\x00\x00\x01e.";
        let p = read(&bytes[..]).unwrap();
        let list = p.tuple(p.root()).unwrap().to_vec();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0], list[1], "one dict, referenced twice");
        assert_eq!(p.int(p.lookup(list[1], "k").unwrap()), Some(7));
        assert_eq!(p.get(list[2]), &Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 1]), "2**64");
    }

    #[test]
    fn globals_and_calls_are_kept_unbuilt_with_what_is_added_to_them() {
        // collections.OrderedDict([("w", 1)]) with a __dict__ state, as torch pickles a state
        // dict: GLOBAL, REDUCE of (), SETITEMS, BUILD.
        let bytes = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02K\x01\
s}q\x03X\t\x00\x00\x00_metadataq\x04}q\x05sb.";
        let p = read(&bytes[..]).unwrap();
        assert_eq!(p.int(p.lookup(p.root(), "w").unwrap()), Some(1));
        let Value::Object { callable, state, .. } = p.get(p.root()) else { panic!() };
        assert_eq!(p.global(*callable).as_deref(), Some("collections.OrderedDict"));
        assert!(state.is_some());
        assert_eq!(p.describe(p.root()), "a call of collections.OrderedDict");
        // A global nobody here could import, called (written by hand): read past, named.
        let bytes = b"\x80\x02cdill._dill\n_create_function\nq\x00K\x01\x85q\x01Rq\x02.";
        let p = read(&bytes[..]).unwrap();
        assert_eq!(p.describe(p.root()), "a call of dill._dill._create_function");
    }

    #[test]
    fn python_2_ordered_dicts_duplicate_keys_and_pop_on_a_mark_read_as_python_reads_them() {
        // OrderedDict([["w", 1]]) as Python 2 pickles it: REDUCE on ([["w", 1]],).
        let p = read(&b"\x80\x02ccollections\nOrderedDict\n]](X\x01\x00\x00\x00wK\x01ea\x85R."[..])
            .unwrap();
        assert_eq!(p.int(p.lookup(p.root(), "w").unwrap()), Some(1));
        // {"k": 1, "k": 2} by SETITEMS: the last value is the key's.
        let p = read(&b"\x80\x02}(X\x01\x00\x00\x00kK\x01X\x01\x00\x00\x00kK\x02u."[..]).unwrap();
        assert_eq!(p.int(p.lookup(p.root(), "k").unwrap()), Some(2));
        // MARK, 1, POP, 2: POP takes the 1; MARK, POP pops the mark (CPython gives 2 for both).
        let p = read(&b"\x80\x02(K\x010K\x02."[..]).unwrap();
        assert_eq!(p.int(p.root()), Some(2));
        let p = read(&b"\x80\x02K\x02(0."[..]).unwrap();
        assert_eq!(p.int(p.root()), Some(2));
    }

    #[test]
    fn long1_integers_sign_extend_and_the_legacy_magic_number_is_a_big_int() {
        assert_eq!(long(vec![0xff]), Value::Int(-1));
        assert_eq!(long(vec![0x00, 0x80]), Value::Int(-32768));
        assert_eq!(long(vec![0xe9, 0x03]), Value::Int(1001));
        assert_eq!(long(vec![]), Value::Int(0));
        assert!(matches!(long(vec![1; 10]), Value::BigInt(_)));
    }

    #[test]
    fn unknown_opcodes_and_truncation_are_errors_naming_the_byte() {
        let err = format!("{:#}", read(&b"\x80\x02K\x01\xff."[..]).unwrap_err());
        assert!(err.contains("opcode 0xff") && err.contains("at byte 4"), "{err}");
        let err = format!("{:#}", read(&b"\x80\x02X\x10\x00\x00\x00abc"[..]).unwrap_err());
        assert!(err.contains("truncated"), "{err}");
        let err = format!("{:#}", read(&b"\x80\x02K\x01"[..]).unwrap_err());
        assert!(err.contains("before the pickle's STOP"), "{err}");
        let err = format!("{:#}", read(&b"\x80\x02h\x05."[..]).unwrap_err());
        assert!(err.contains("memo entry 5 is unset"), "{err}");
    }
}
