//! Reading stanzas straight from the bytes, for the readers on the hot path of a scenario.
//!
//! Parsing every stanza into a tree cost this client more CPU per stanza than the servers spent
//! delivering it, so the chat and presence readers look only for what they count.

/// The value of attribute `name` in a start tag (either quote style; JIDs need no unescaping).
pub fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    loop {
        let i = rest.find(name)?;
        let before = rest[..i].chars().last();
        let after = &rest[i + name.len()..];
        if matches!(before, Some(' ' | '\t' | '\n' | '\r')) {
            if let Some(v) = after.strip_prefix('=') {
                let q = v.chars().next()?;
                if q == '\'' || q == '"' {
                    let v = &v[1..];
                    return v.find(q).map(|end| &v[..end]);
                }
            }
        }
        rest = after;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Scans `buf` for complete top-level `<NAME>` elements, calls `f` with each one's start tag
/// (without `>`) and inner XML, and returns how many bytes were used up (the rest may be the
/// start of an element still arriving).
pub fn scan<'b>(buf: &'b [u8], name: &str, mut f: impl FnMut(&'b str, &'b str)) -> usize {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let (open, close) = (open.as_bytes(), close.as_bytes());
    let mut pos = 0;
    loop {
        let Some(start) = find(buf, open, pos) else {
            // Keep a tail that could be the start of the element.
            let tail = buf.len().saturating_sub(open.len() - 1).max(pos);
            return match buf[tail..].iter().rposition(|&b| b == b'<') {
                Some(lt) if open.starts_with(&buf[tail + lt..]) => tail + lt,
                _ => buf.len(),
            };
        };
        // The name must be whole ("<presence>" or "<presence " …, not "<presences").
        match buf.get(start + open.len()) {
            None => return start,
            Some(b'>' | b' ' | b'/' | b'\t' | b'\n' | b'\r') => {}
            Some(_) => {
                pos = start + 1;
                continue;
            }
        }
        let Some(gt) = find(buf, b">", start) else {
            return start;
        };
        let tag = std::str::from_utf8(&buf[start..gt]).unwrap_or("");
        let (end, inner) = if tag.ends_with('/') {
            (gt + 1, "")
        } else {
            let Some(c) = find(buf, close, gt) else {
                return start;
            };
            (
                c + close.len(),
                std::str::from_utf8(&buf[gt + 1..c]).unwrap_or(""),
            )
        };
        f(tag, inner);
        pos = end;
    }
}

/// The text of the first `<NAME>` child in `inner` (no nested markup, no unescaping).
pub fn child_text<'a>(inner: &'a str, name: &str) -> Option<&'a str> {
    let i = inner.find(&format!("<{name}"))?;
    let rest = &inner[i..];
    let text = &rest[rest.find('>')? + 1..];
    Some(&text[..text.find('<')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_whole_elements_and_keeps_a_partial_tail() {
        let stream = "<message to='a' from='b/r' type='chat'><body>t=12</body></message>\
                      <messages/><message from='c'><body>t=34</body></mess";
        let mut got = Vec::new();
        let used = scan(stream.as_bytes(), "message", |tag, inner| {
            got.push((attr(tag, "from").unwrap(), child_text(inner, "body")));
        });
        assert_eq!(got, [("b/r", Some("t=12"))]);
        assert!(stream[used..].starts_with("<message from='c'>"));
    }
}
