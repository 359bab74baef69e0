//! Search, sort and paging of the admin lists (organisations, applications, APIs, people),
//! as Entra's and Keycloak's admin consoles offer them: `?q=&sort=&page=&per_page=` in, one
//! [`Page`] out. The backend checks the query here ([`ListQuery::check`]) and does the work
//! in the database; the portal keeps the same query in its own URL, so links and Back work.

use serde::{Deserialize, Serialize};

use crate::validate::ValidationError;

/// Rows per page unless the query asks otherwise.
pub const DEFAULT_PER_PAGE: i64 = 25;
/// The most rows one page may hold.
pub const MAX_PER_PAGE: i64 = 100;
/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// A list request as sent. Every field is text, so a bad value gets a sentence saying what
/// is wrong (422) rather than a parser's complaint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ListQuery {
    /// Search text: rows whose names (or client_id, e-mail) contain it, in any letter case.
    pub q: Option<String>,
    /// A field of the list's own whitelist; `-field` sorts descending.
    pub sort: Option<String>,
    /// 1-based page number (default 1).
    pub page: Option<String>,
    /// Rows per page, 1 to 100 (default 25).
    pub per_page: Option<String>,
}

/// One page of a list and where it sits in the whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Rows matching the search and filters, on every page together.
    pub total: i64,
    /// 1-based.
    pub page: i64,
    pub per_page: i64,
}

impl<T> Page<T> {
    /// Number of pages (at least 1, so an empty list is "page 1 of 1").
    pub fn pages(&self) -> i64 {
        page_count(self.total, self.per_page)
    }
}

/// Pages needed for `total` rows at `per_page` a page; at least 1.
pub fn page_count(total: i64, per_page: i64) -> i64 {
    if per_page <= 0 {
        return 1;
    }
    ((total + per_page - 1) / per_page).max(1)
}

/// A checked sort: one field of a list's whitelist and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<F> {
    pub field: F,
    pub descending: bool,
}

/// A checked [`ListQuery`]: what the database is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked<F> {
    /// The search text, trimmed (in the letter case it was typed); `None` when empty.
    pub search: Option<String>,
    pub sort: Sort<F>,
    pub page: i64,
    pub per_page: i64,
}

impl<F> Checked<F> {
    /// Rows to skip before this page.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// A SQL `LIKE` pattern matching the search text anywhere (escape character `\`), or
    /// `None` without a search. Compare it with `lower(column)`, after `fold` has put the
    /// text in the letter case that the database's `lower` gives.
    pub fn like_pattern(&self, fold: impl Fn(&str) -> String) -> Option<String> {
        self.search
            .as_deref()
            .map(|text| contains_pattern(&fold(text)))
    }

    /// The page of `items` found, with the total.
    pub fn page_of<T>(&self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            total,
            page: self.page,
            per_page: self.per_page,
        }
    }
}

/// `%text%` with `%`, `_` and `\` escaped by `\`, so they match themselves.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl ListQuery {
    /// Checks the query against a list's sort whitelist (`(name, field)` pairs, the first
    /// being the default, ascending).
    ///
    /// # Errors
    /// A [`ValidationError`] naming the parameter: a page that is not a whole number of at
    /// least 1, a per_page outside 1 to 100, a search over 200 characters or with control
    /// characters, or a sort field not in the whitelist (the message lists the allowed ones).
    pub fn check<F: Copy>(&self, sorts: &[(&str, F)]) -> Result<Checked<F>, ValidationError> {
        let page = whole_number("page", self.page.as_deref(), 1, i64::from(i32::MAX), 1)?;
        let per_page = whole_number(
            "per_page",
            self.per_page.as_deref(),
            1,
            MAX_PER_PAGE,
            DEFAULT_PER_PAGE,
        )?;
        let search = search_text("q", self.q.as_deref())?;
        Ok(Checked {
            search,
            sort: sort(self.sort.as_deref(), sorts)?,
            page,
            per_page,
        })
    }

    /// The query string (without `?`) of this query with empty fields left out, for the
    /// portal's own URL and its API calls.
    pub fn to_query_string(&self) -> String {
        [
            ("q", &self.q),
            ("sort", &self.sort),
            ("page", &self.page),
            ("per_page", &self.per_page),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={}", encode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay as they are).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A search text, trimmed; `None` when empty.
///
/// # Errors
/// A [`ValidationError`] on `field` for a text over [`MAX_SEARCH_CHARS`] characters or with
/// control characters.
pub fn search_text(
    field: &'static str,
    text: Option<&str>,
) -> Result<Option<String>, ValidationError> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(ValidationError::new(
            field,
            format!("Search for at most {MAX_SEARCH_CHARS} characters."),
        ));
    }
    if crate::validate::has_control_character(text) {
        return Err(ValidationError::new(
            field,
            "The search text holds control characters.",
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A whole number from `min` to `max` (`default` when absent or blank).
///
/// # Errors
/// A [`ValidationError`] on `field` for anything else.
pub fn whole_number(
    field: &'static str,
    text: Option<&str>,
    min: i64,
    max: i64,
    default: i64,
) -> Result<i64, ValidationError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ValidationError::new(
            field,
            format!("{field} must be a whole number from {min} to {max}, not \"{text}\"."),
        )),
    }
}

fn sort<F: Copy>(text: Option<&str>, sorts: &[(&str, F)]) -> Result<Sort<F>, ValidationError> {
    let Some(&(_, default)) = sorts.first() else {
        return Err(ValidationError::new("sort", "This list cannot be sorted."));
    };
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Sort {
            field: default,
            descending: false,
        });
    };
    let (name, descending) = match text.strip_prefix('-') {
        Some(name) => (name, true),
        None => (text, false),
    };
    sorts
        .iter()
        .find(|(known, _)| *known == name)
        .map(|&(_, field)| Sort { field, descending })
        .ok_or_else(|| {
            let allowed: Vec<&str> = sorts.iter().map(|(known, _)| *known).collect();
            ValidationError::new(
                "sort",
                format!(
                    "Cannot sort by \"{name}\": sort by {} (add - in front for descending).",
                    allowed.join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SORTS: [(&str, u8); 2] = [("name", 0), ("created", 1)];

    fn query(q: &str, sort: &str, page: &str, per_page: &str) -> ListQuery {
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        ListQuery {
            q: some(q),
            sort: some(sort),
            page: some(page),
            per_page: some(per_page),
        }
    }

    #[test]
    fn defaults_are_page_one_of_25_by_the_first_field() {
        let checked = ListQuery::default().check(&SORTS).unwrap();
        assert_eq!(checked.page, 1);
        assert_eq!(checked.per_page, DEFAULT_PER_PAGE);
        assert_eq!(
            checked.sort,
            Sort {
                field: 0,
                descending: false
            }
        );
        assert_eq!(checked.offset(), 0);
        assert_eq!(checked.like_pattern(str::to_lowercase), None);
    }

    #[test]
    fn a_minus_sorts_descending_and_pages_skip_rows() {
        let checked = query(" Acme ", "-created", "3", "10")
            .check(&SORTS)
            .unwrap();
        assert_eq!(checked.sort.field, 1);
        assert!(checked.sort.descending);
        assert_eq!(checked.offset(), 20);
        assert_eq!(checked.search.as_deref(), Some("Acme"));
        assert_eq!(
            checked.like_pattern(str::to_lowercase).as_deref(),
            Some("%acme%")
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (bad, field) in [
            (query("", "", "0", ""), "page"),
            (query("", "", "two", ""), "page"),
            (query("", "", "", "101"), "per_page"),
            (query("", "", "", "0"), "per_page"),
            (query("", "colour", "", ""), "sort"),
            (query("a\u{7}", "", "", ""), "q"),
        ] {
            assert_eq!(bad.check(&SORTS).unwrap_err().field, field, "{bad:?}");
        }
        let unknown = query("", "-colour", "", "").check(&SORTS).unwrap_err();
        assert!(unknown.message.contains("name, created"), "{unknown}");
    }

    #[test]
    fn like_wildcards_in_the_search_match_themselves() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn page_count_is_at_least_one() {
        assert_eq!(page_count(0, 25), 1);
        assert_eq!(page_count(25, 25), 1);
        assert_eq!(page_count(26, 25), 2);
        assert_eq!(page_count(2000, 25), 80);
    }

    #[test]
    fn query_strings_leave_out_empty_fields_and_encode_values() {
        assert_eq!(
            query("a b&c", "-name", "", "").to_query_string(),
            "q=a%20b%26c&sort=-name"
        );
        assert_eq!(ListQuery::default().to_query_string(), "");
    }
}
