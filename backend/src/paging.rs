//! Search and paging in SQL for the admin lists, the same on SQLite and PostgreSQL: the
//! query's checks live in [`clavis_shared::paging`]; here is what each list's query shares.
//!
//! Case-insensitive search is `lower(column) LIKE '%text%' ESCAPE '\'` on both databases
//! (the text folded by [`fold`] first), so `%` and `_` typed by a person match themselves.
//! SQLite's `lower` folds ASCII letters only; PostgreSQL's folds every letter: on SQLite,
//! letters outside ASCII (Ü, É) match only in the case they were typed.

use diesel::Connection;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::db::DbConn;

diesel::define_sql_function!(
    /// SQL `lower(text)`, on both databases.
    fn lower(x: Text) -> Text
);

/// `text` in the letter case that `lower()` gives on `conn`'s database, for a search pattern:
/// every letter lower-cased on PostgreSQL, only ASCII ones on SQLite (whose `lower` leaves
/// the others as they are, so that "Ünïcode" still finds "Ünïcode Shipping" there).
pub fn fold(conn: &DbConn, text: &str) -> String {
    match conn {
        DbConn::Postgres(_) => text.to_lowercase(),
        DbConn::Sqlite(_) => text.to_ascii_lowercase(),
    }
}

/// The backend of whichever database is open.
pub type Db = <DbConn as Connection>::Backend;

/// A text column (or expression) of the query source `QS`, boxed so columns of different
/// tables fit in one list.
pub type TextColumn<QS> = Box<dyn BoxableExpression<QS, Db, SqlType = Text>>;

/// A `WHERE` condition on the query source `QS`.
pub type Condition<QS> = Box<dyn BoxableExpression<QS, Db, SqlType = Bool>>;

/// Whether the text `column` contains the search `pattern` in any letter case:
/// `lower(column) LIKE pattern ESCAPE '\'`. PostgreSQL answers it from a trigram index on
/// `lower(column)` where the column has one (migration `search_indexes`). A macro, as the
/// expression's type names its column: an unboxed condition can sit in a subquery.
macro_rules! contains {
    ($column:expr, $pattern:expr) => {
        $crate::paging::lower($column)
            .like(::std::borrow::ToOwned::to_owned($pattern))
            .escape('\\')
    };
}
pub(crate) use contains;

/// Whether any of `columns` contains the search `pattern` (from
/// [`clavis_shared::paging::Checked::like_pattern`]) in any letter case. A NULL column
/// matches nothing.
pub fn any_contains<QS: 'static>(columns: Vec<TextColumn<QS>>, pattern: &str) -> Condition<QS> {
    let mut columns = columns.into_iter();
    let first = columns
        .next()
        .map(|column| contains_boxed(column, pattern))
        .unwrap_or_else(|| Box::new(diesel::dsl::sql::<Bool>("1 = 0")));
    columns.fold(first, |matched, column| {
        Box::new(matched.or(contains_boxed(column, pattern)))
    })
}

fn contains_boxed<QS: 'static>(column: TextColumn<QS>, pattern: &str) -> Condition<QS> {
    Box::new(contains!(column, pattern))
}
