//! Rust source as tokens, without comments and whitespace: what a stage's fingerprint hashes
//! (so a comment, a doc comment or a re-layout by rustfmt re-runs nothing) and what the test-only
//! closure reader (`closure.rs`) reads. Literals keep the text they are written with, and
//! operators are read whole (`&&` is not `& &`), so two spellings that mean different programs
//! never give the same tokens.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// A string, byte string, raw string, character, byte or number literal, as written.
    Literal(String),
    /// `'a`
    Lifetime(String),
    Punct(char),
    /// An operator of several characters (`->`, `&&`, `..=`), but `::`.
    Joint(&'static str),
    /// `::`
    Path,
}

impl Tok {
    /// The value of a plain string literal without escapes (`"a/b.csv"`), for the closure
    /// reader's `include_str!` paths.
    #[cfg(test)]
    pub fn plain_str(&self) -> Option<&str> {
        match self {
            Tok::Literal(s) => s.strip_prefix('"')?.strip_suffix('"').filter(|v| !v.contains('\\')),
            _ => None,
        }
    }
}

/// Operators of several characters, longest first (the lexer takes the longest that matches).
const JOINT: [&str; 24] = [
    "<<=", ">>=", "...", "..=", "->", "=>", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=",
    "/=", "%=", "^=", "&=", "|=", "<<", ">>", "..", "::",
];

/// The tokens of `src`, each with its 1-based line.
pub fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < c.len() {
        let start = i;
        let ch = c[i];
        let tok = if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            None
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            None
        } else if ch == '"' {
            i = quoted(&c, i, '"');
            Some(Tok::Literal(c[start..i].iter().collect()))
        } else if ch == '\'' {
            if at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\'') {
                i = quoted(&c, i, '\'');
                Some(Tok::Literal(c[start..i].iter().collect()))
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                Some(Tok::Lifetime(c[start..i].iter().collect()))
            }
        } else if ch.is_ascii_digit() {
            i += 1;
            while i < c.len() {
                let exponent = matches!(c[i], '+' | '-')
                    && matches!(c[i - 1], 'e' | 'E')
                    && at(i + 1).is_ascii_digit()
                    && !matches!(at(start + 1), 'x' | 'b' | 'o');
                let decimal_point = c[i] == '.' && at(i + 1).is_ascii_digit();
                if !(c[i].is_alphanumeric() || c[i] == '_' || exponent || decimal_point) {
                    break;
                }
                i += 1;
            }
            Some(Tok::Literal(c[start..i].iter().collect()))
        } else if ch.is_alphabetic() || ch == '_' {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            match (word.as_str(), at(i)) {
                // b"…", c"…", b'…'
                ("b" | "c", '"') | ("b", '\'') => {
                    i = quoted(&c, i, at(i));
                    Some(Tok::Literal(c[start..i].iter().collect()))
                }
                // r"…", r#"…"#, br"…", cr"…"
                ("r" | "br" | "cr", '"' | '#') if raw_string_at(&c, i) => {
                    i = raw_string_end(&c, i);
                    Some(Tok::Literal(c[start..i].iter().collect()))
                }
                _ => Some(Tok::Ident(word)),
            }
        } else if let Some(op) =
            JOINT.iter().find(|op| op.chars().enumerate().all(|(k, o)| at(i + k) == o))
        {
            i += op.len();
            Some(if *op == "::" { Tok::Path } else { Tok::Joint(op) })
        } else {
            i += 1;
            (!ch.is_whitespace()).then_some(Tok::Punct(ch))
        };
        if let Some(tok) = tok {
            out.push((tok, line));
        }
        line += c[start..i.min(c.len())].iter().filter(|&&ch| ch == '\n').count();
    }
    out
}

/// The end of the literal opened by `quote` at `i`, escapes skipped.
fn quoted(c: &[char], mut i: usize, quote: char) -> usize {
    i += 1;
    while i < c.len() && c[i] != quote {
        i += if c[i] == '\\' { 2 } else { 1 };
    }
    (i + 1).min(c.len())
}

/// Whether a raw string's hashes and quote start at `i` (after its `r`).
fn raw_string_at(c: &[char], i: usize) -> bool {
    c[i..].iter().find(|&&ch| ch != '#') == Some(&'"')
}

/// The end of the raw string whose hashes start at `i`.
fn raw_string_end(c: &[char], mut i: usize) -> usize {
    let mut hashes = 0;
    while c.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1;
    while i < c.len() {
        if c[i] == '"' && (1..=hashes).all(|h| c.get(i + h) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    c.len()
}

/// The indices of the tokens outside every `#[cfg(test)]` item.
pub fn outside_test_items(toks: &[Tok]) -> Vec<usize> {
    let cfg_test: Vec<Tok> = tokens("#[cfg(test)]").into_iter().map(|(t, _)| t).collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i..].starts_with(&cfg_test) {
            i += cfg_test.len();
            // Skip the item: to a `;` at depth 0, or to the end of its first `{ … }` block.
            let mut depth = 0;
            while i < toks.len() {
                match toks[i] {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    Tok::Punct(';') if depth == 0 => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            kept.push(i);
            i += 1;
        }
    }
    kept
}

/// blake3 of the code of `src`: its tokens outside `#[cfg(test)]` items, each tagged and
/// length-prefixed, with trailing commas before `}` and `]` dropped (rustfmt adds and removes
/// them with line breaks; they never change a program's meaning there, unlike before `)`, where
/// `(x,)` is a tuple).
pub fn code_hash(src: &str) -> blake3::Hash {
    let toks: Vec<Tok> = tokens(src).into_iter().map(|(t, _)| t).collect();
    let kept = outside_test_items(&toks);
    let mut h = blake3::Hasher::new();
    for (n, &i) in kept.iter().enumerate() {
        let next = kept.get(n + 1).map(|&j| &toks[j]);
        if toks[i] == Tok::Punct(',') && matches!(next, Some(Tok::Punct('}' | ']'))) {
            continue;
        }
        let (tag, text): (u8, std::borrow::Cow<str>) = match &toks[i] {
            Tok::Ident(s) => (b'i', s.into()),
            Tok::Literal(s) => (b'l', s.into()),
            Tok::Lifetime(s) => (b'\'', s.into()),
            Tok::Punct(p) => (b'p', p.to_string().into()),
            Tok::Joint(op) => (b'j', (*op).into()),
            Tok::Path => (b':', "".into()),
        };
        h.update(&[tag]);
        h.update(&(text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokens(src).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn literals_lifetimes_and_operators_are_read_whole() {
        use Tok::*;
        let lit = |s: &str| Literal(s.to_string());
        assert_eq!(
            toks(r##"f::<'a>(b"x\"y", r#"q"#, 'c', '\'', b'z', 1.5e-3, 0x1f, 1..=2) && x"##),
            vec![
                Ident("f".into()),
                Path,
                Punct('<'),
                Lifetime("'a".into()),
                Punct('>'),
                Punct('('),
                lit(r#"b"x\"y""#),
                Punct(','),
                lit(r##"r#"q"#"##),
                Punct(','),
                lit("'c'"),
                Punct(','),
                lit(r"'\''"),
                Punct(','),
                lit("b'z'"),
                Punct(','),
                lit("1.5e-3"),
                Punct(','),
                lit("0x1f"),
                Punct(','),
                lit("1"),
                Joint("..="),
                lit("2"),
                Punct(')'),
                Joint("&&"),
                Ident("x".into()),
            ]
        );
        assert_ne!(toks("a && b"), toks("a & &b"));
        assert_eq!(Tok::Literal("\"a/b.csv\"".into()).plain_str(), Some("a/b.csv"));
        assert_eq!(Tok::Literal(r#""a\n""#.into()).plain_str(), None);
    }

    #[test]
    fn lines_are_counted_through_comments_and_literals() {
        let lines: Vec<usize> =
            tokens("a\n/* x\ny */ b \"s\nt\" c\n// d\ne").iter().map(|t| t.1).collect();
        assert_eq!(lines, vec![1, 3, 3, 4, 6]);
    }

    #[test]
    fn comments_layout_and_trailing_commas_leave_the_hash_and_code_changes_move_it() {
        let code = "/// Adds.\npub fn f(a: [u8; 2]) -> u8 {\n    let s = S { x: 1, y: 2 };\n    a[0] + s.x // first\n}\n";
        let same = [
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 2, }; a[0] + s.x }",
            "/* the sum */ pub fn f(a: [u8; 2]) -> u8 {\n    let s = S {\n        x: 1,\n        y: 2,\n    };\n    a[0] + s.x\n}\n",
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 2 }; a[0] + s.x }\n#[cfg(test)]\nmod tests { fn t() {} }\n",
        ];
        for s in same {
            assert_eq!(code_hash(code), code_hash(s), "{s}");
        }
        let different = [
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 3 }; a[0] + s.x }",
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 2 }; a[1] + s.x }",
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 2 }; a[0] - s.x }",
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 2 }; (a[0] + s.x,).0 }",
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 2 }; a[0] + s.x } fn g() {}",
            "pub fn f(a: [u8; 2]) -> u8 { let s = S { x: 1, y: 2 }; a[0] + s.x } const C: &str = \"//\";",
        ];
        for d in different {
            assert_ne!(code_hash(code), code_hash(d), "{d}");
        }
    }
}
