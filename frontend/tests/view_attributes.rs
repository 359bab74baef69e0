//! Every `view!` attribute whose value is an expression with `<` or `>` (or any other
//! operator) is written in braces: `disabled={current >= pages}`.
//!
//! Why: `view!` (rstml) reads an unbraced attribute value only as far as a simple
//! expression. In `disabled=current >= pages on:click=…` the `>` closes the tag, the
//! button is never disabled by the comparison, and the rest of the attribute list becomes
//! the button's visible label (issue 16, defect 1). The compiler accepts it, so this test
//! reads every `view!` body in `frontend/src` with a real Rust tokenizer (`proc-macro2`) and
//! fails on an attribute value that goes on with a `<` or `>` operator after its simple
//! part (a literal, a group `{…}`/`(…)`, a path with field, method or macro calls, or a
//! closure whose body is one of those).

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use std::path::{Path, PathBuf};

/// The attributes of every `view!` in `source` (Rust code) whose value goes on with a `<`
/// or `>` operator after its simple part, as their token text.
fn unbraced_attributes(source: &str) -> Result<Vec<String>, String> {
    let tokens: TokenStream = source.parse().map_err(|error| format!("{error}"))?;
    let mut found = Vec::new();
    scan_rust(tokens, &mut found);
    Ok(found)
}

/// Rust code: finds `view! {…}` (at any depth) and checks its body.
fn scan_rust(tokens: TokenStream, found: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
            (
                TokenTree::Ident(name),
                Some(TokenTree::Punct(bang)),
                Some(TokenTree::Group(body)),
            ) if name == "view" && bang.as_char() == '!' => {
                scan_view(body.stream(), found);
                i += 3;
            }
            (TokenTree::Group(group), _, _) => {
                scan_rust(group.stream(), found);
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// A `view!` body: every `name=value` at its top level is checked; groups hold Rust code
/// (children in braces, tuple values), which may hold further `view!`s.
fn scan_view(tokens: TokenStream, found: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Group(group) => scan_rust(group.stream(), found),
            TokenTree::Punct(eq)
                if eq.as_char() == '='
                    && eq.spacing() == Spacing::Alone
                    && i > 0
                    && matches!(tokens[i - 1], TokenTree::Ident(_)) =>
            {
                let end = simple_value_end(&tokens, i + 1);
                let bad = match end {
                    None => true,
                    Some(end) => continues_as_expression(&tokens, end),
                };
                if bad {
                    let start = attribute_start(&tokens, i - 1);
                    let stop = end.map_or(tokens.len(), |end| end + 3).min(tokens.len());
                    let text: TokenStream = tokens[start..stop].iter().cloned().collect();
                    found.push(text.to_string());
                }
            }
            _ => {}
        }
    }
}

/// Where an attribute's name starts (`on:click`, `aria-label`, `prop:value`).
fn attribute_start(tokens: &[TokenTree], mut at: usize) -> usize {
    while at >= 2
        && matches!(&tokens[at - 1], TokenTree::Punct(p) if p.as_char() == ':' || p.as_char() == '-')
        && matches!(tokens[at - 2], TokenTree::Ident(_))
    {
        at -= 2;
    }
    at
}

fn is_punct(token: Option<&TokenTree>, c: char) -> bool {
    matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// The index after a simple value starting at `at`, or `None` when none starts there.
fn simple_value_end(tokens: &[TokenTree], mut at: usize) -> Option<usize> {
    // Unary prefixes: !flag, -1, &value, *deref.
    while ['!', '-', '&', '*']
        .iter()
        .any(|c| is_punct(tokens.get(at), *c))
    {
        at += 1;
    }
    match tokens.get(at)? {
        TokenTree::Literal(_) | TokenTree::Group(_) => Some(postfix_end(tokens, at + 1)),
        TokenTree::Ident(word) if word == "move" => closure_end(tokens, at + 1),
        TokenTree::Ident(_) => Some(postfix_end(tokens, at + 1)),
        TokenTree::Punct(p) if p.as_char() == '|' => closure_end(tokens, at),
        TokenTree::Punct(_) => None,
    }
}

/// A closure from its first `|`: its parameters, then a simple body.
fn closure_end(tokens: &[TokenTree], mut at: usize) -> Option<usize> {
    let TokenTree::Punct(open) = tokens.get(at)? else {
        return None;
    };
    if open.as_char() != '|' {
        return None;
    }
    at += 1;
    if open.spacing() == Spacing::Joint && is_punct(tokens.get(at), '|') {
        at += 1; // `||`: no parameters
    } else {
        while !is_punct(tokens.get(at), '|') {
            tokens.get(at)?;
            at += 1;
        }
        at += 1;
    }
    simple_value_end(tokens, at)
}

/// Past `::segment`, `.field`, `.method(…)`, `(…)`, `[…]`, `macro!(…)` and `?`.
fn postfix_end(tokens: &[TokenTree], mut at: usize) -> usize {
    loop {
        match (tokens.get(at), tokens.get(at + 1), tokens.get(at + 2)) {
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(_)))
                if a.as_char() == ':' && b.as_char() == ':' && a.spacing() == Spacing::Joint =>
            {
                at += 3
            }
            (Some(TokenTree::Punct(dot)), Some(TokenTree::Ident(_) | TokenTree::Literal(_)), _)
                if dot.as_char() == '.' =>
            {
                at += 2
            }
            (Some(TokenTree::Group(group)), _, _)
                if matches!(
                    group.delimiter(),
                    Delimiter::Parenthesis | Delimiter::Bracket
                ) =>
            {
                at += 1
            }
            (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(_)), _)
                if bang.as_char() == '!' =>
            {
                at += 2
            }
            (Some(TokenTree::Punct(q)), _, _) if q.as_char() == '?' => at += 1,
            _ => return at,
        }
    }
}

/// Whether the expression goes on past its simple part (at `at`) to a `<` or `>` that is an
/// operator, not the tag's end: it stops at the next attribute (`name=`, `on:click`), at a
/// `/>`, at a `</`, or at a `>` followed by the tag's children.
fn continues_as_expression(tokens: &[TokenTree], at: usize) -> bool {
    let mut k = at;
    while let Some(token) = tokens.get(k) {
        let next = tokens.get(k + 1);
        match token {
            TokenTree::Punct(p) if p.as_char() == '>' => {
                let operator = matches!(next, Some(TokenTree::Ident(_)))
                    || (p.spacing() == Spacing::Joint
                        && (is_punct(next, '=') || is_punct(next, '>')));
                return operator;
            }
            TokenTree::Punct(p) if p.as_char() == '<' => return !is_punct(next, '/'),
            TokenTree::Punct(p) if p.as_char() == '/' && is_punct(next, '>') => return false,
            TokenTree::Ident(_) if k == at => return false,
            TokenTree::Ident(_)
                if matches!(next, Some(TokenTree::Punct(p))
                    if (p.as_char() == '=' || p.as_char() == ':' || p.as_char() == '-')
                        && p.spacing() == Spacing::Alone) =>
            {
                return false;
            }
            TokenTree::Literal(_) | TokenTree::Group(_) if k == at => return false,
            _ => k += 1,
        }
    }
    false
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read frontend/src") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_view_attribute_with_an_operator_is_in_braces() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 5, "found the portal's sources: {files:?}");
    let mut problems = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read source");
        let found = unbraced_attributes(&source)
            .unwrap_or_else(|error| panic!("{} does not tokenize: {error}", file.display()));
        for attribute in found {
            problems.push(format!("{}: `{attribute}`", file.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "view! attribute values with operators must be in braces, e.g. disabled={{a >= b}}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_audit_log_defect_is_caught() {
    let broken = r#"fn f() { view! {
        <button type="button" disabled=current <= 1 on:click=move |_| page.set(current - 1)>"Newer"</button>
        <button disabled=current >= pages on:click=move |_| page.set(current + 1)>"Older"</button>
        <input value=count.get() + 1 > limit />
        <p class=a >> 2>"x"</p>
        <p hidden=a > b>"x"</p>
    } }"#;
    let found = unbraced_attributes(broken).expect("tokenizes");
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(found[0].starts_with("disabled = current <"), "{found:?}");
    assert!(found[1].starts_with("disabled = current >"), "{found:?}");
}

#[test]
fn simple_and_braced_values_pass() {
    let fine = r#"fn f() { view! {
        <button disabled={current >= pages} on:click=move |_| page.set(current + 1)>"Older"</button>
        <input id="f-to" type="date" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
        <option value=m.organisation.id>{m.organisation.name}</option>
        <td class=outcome></td>
        <a href=format!("/audit?page={}", 2) aria-label="Next">"Next"</a>
        <span class=("badge", move || on.get())>"x"</span>
        <p hidden=!shown data-n=-1 class:active=move |_: u8| { a > b }/>
        <input prop:checked=move || expiry.get() == Expiry::Days30 on:change=move |_| x.set(1) />
        <p class=a == b>"text"</p>
        {items.into_iter().map(|i| view! { <li value=i.0>{i.1}</li> }).collect_view()}
    } }"#;
    assert_eq!(
        unbraced_attributes(fine).expect("tokenizes"),
        Vec::<String>::new()
    );
}

#[test]
fn nested_views_are_checked_too() {
    let nested = r#"fn f() { view! {
        <ul>{items.into_iter().map(|i| view! { <li hidden=i < 3>"x"</li> }).collect_view()}</ul>
    } }"#;
    assert_eq!(unbraced_attributes(nested).expect("tokenizes").len(), 1);
}
