//! Reading the rows of the busiest reads by column position.
//!
//! SeaORM's derived decoder finds every column by name, and builds that name with
//! `format!` for every column of every row; each NULL also formats the column's name
//! into an error that is then dropped. For a page of 50 customers with their addresses
//! and groups that was a quarter of the server's instructions (callgrind). A model here
//! lists its fields in the entity's column order once ([`by_position!`]); a row is then
//! read with one indexed lookup per column and no allocation but the values'.
//!
//! Only a plain `Entity::find()` (every column, in `Column::iter()` order) or a
//! `find_also_related` (both entities' columns, one after the other) may be read this
//! way; a test checks each listed order against the entity's.

use sea_orm::sqlx::{self, Decode, Postgres, Row as _, Sqlite, Type, ValueRef as _};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, RuntimeErr, Statement};

use crate::stored_json::StoredJson;

/// What can be read from a row by column position: a model, or a pair of them.
pub trait ByPosition: Sized {
    /// How many columns it takes.
    const WIDTH: usize;

    /// The value whose columns start at `first`.
    fn from_row(row: &QueryResult, first: usize) -> Result<Self, DbErr>;
}

/// One column's value, by position.
pub trait Cell: Sized {
    fn cell(row: &QueryResult, index: usize) -> Result<Self, DbErr>;
}

/// What sqlx decodes itself on both backends, as SeaORM asks it to.
///
/// sqlx's `try_get` first checks that the column's database type is one `T` accepts,
/// comparing type descriptions, for every cell: 5 % of a page of 50 customers'
/// instructions (callgrind). Here the columns come from the entity's own statement
/// (module docs), so that check fails only when the migrations and the entity
/// disagree, and then on every read of that column: debug builds, which every test
/// runs on both databases, keep it; release builds decode without it
/// (`try_get_unchecked`), where such a column could decode as a wrong value. Both
/// calls share sqlx's decoders; the unchecked one runs in the benchmark, not in
/// `cargo test`.
fn decode<T>(row: &QueryResult, index: usize) -> Result<T, DbErr>
where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>,
{
    let checked = cfg!(debug_assertions);
    let value = if let Some(row) = row.try_as_pg_row() {
        if checked {
            row.try_get::<T, usize>(index)
        } else {
            row.try_get_unchecked::<T, usize>(index)
        }
    } else if let Some(row) = row.try_as_sqlite_row() {
        if checked {
            row.try_get::<T, usize>(index)
        } else {
            row.try_get_unchecked::<T, usize>(index)
        }
    } else {
        return Err(DbErr::Type(
            "rows are read from PostgreSQL or SQLite".into(),
        ));
    };
    value.map_err(sqlx_error)
}

macro_rules! sqlx_cells {
    ($($type:ty),+) => {$(
        impl Cell for $type {
            fn cell(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                decode(row, index)
            }
        }
        impl Cell for Option<$type> {
            fn cell(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                decode(row, index)
            }
        }
    )+};
}

sqlx_cells!(
    uuid::Uuid,
    String,
    bool,
    i32,
    i64,
    chrono::DateTime<chrono::Utc>
);

/// Like SeaORM's reading of [`StoredJson`]: JSON that cannot be decoded spoils this
/// one value, not the row.
impl Cell for Option<StoredJson> {
    fn cell(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
        match decode::<Option<serde_json::Value>>(row, index) {
            Ok(value) => Ok(value.map(StoredJson::Value)),
            Err(_) => Ok(Some(StoredJson::Unreadable)),
        }
    }
}

/// A row of `find_also_related`: the first entity's columns, then the second's, which
/// are all NULL when no related row matched (its key is read first to tell).
impl<A: ByPosition, B: ByPosition> ByPosition for (A, Option<B>) {
    const WIDTH: usize = A::WIDTH + B::WIDTH;

    fn from_row(row: &QueryResult, first: usize) -> Result<Self, DbErr> {
        let a = A::from_row(row, first)?;
        let second = first + A::WIDTH;
        let related = match row.try_as_pg_row() {
            Some(pg) => !pg.try_get_raw(second).map_err(sqlx_error)?.is_null(),
            None => match row.try_as_sqlite_row() {
                Some(sqlite) => !sqlite.try_get_raw(second).map_err(sqlx_error)?.is_null(),
                None => false,
            },
        };
        Ok((a, related.then(|| B::from_row(row, second)).transpose()?))
    }
}

fn sqlx_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(error.into()))
}

/// Every row of a statement built from such a query, read by position.
pub async fn read<T: ByPosition>(
    db: &impl ConnectionTrait,
    statement: Statement,
) -> Result<Vec<T>, DbErr> {
    let rows = db.query_all_raw(statement).await?;
    // Sized first: collecting into a `Result` cannot know its length, so the models
    // (hundreds of bytes each) were copied into ever larger buffers as it grew: 3 %
    // of the instructions of a page of 50 customers with their addresses (callgrind).
    let mut models = Vec::with_capacity(rows.len());
    for row in &rows {
        models.push(T::from_row(row, 0)?);
    }
    Ok(models)
}

/// Reads `$model` by position: its fields, listed in the entity's column order
/// (which `$model::COLUMNS` keeps for the test).
macro_rules! by_position {
    ($model:path { $($field:ident),+ $(,)? }) => {
        impl $model {
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),+];
        }

        impl $crate::rows::ByPosition for $model {
            const WIDTH: usize = Self::COLUMNS.len();

            fn from_row(
                row: &sea_orm::QueryResult,
                first: usize,
            ) -> Result<Self, sea_orm::DbErr> {
                let mut at = first;
                let mut next = || {
                    at += 1;
                    at - 1
                };
                Ok(Self {
                    $($field: $crate::rows::Cell::cell(row, next())?),+
                })
            }
        }
    };
}

by_position!(crate::customer::Model {
    id,
    email,
    first_name,
    last_name,
    phone,
    has_account,
    billing_address_id,
    default_shipping_address_id,
    metadata,
    created_at,
    updated_at,
    deleted_at,
    disabled_at,
    email_verified_at,
    order_count,
    last_order_at,
    external_id,
    erased_at,
});

by_position!(crate::address::Model {
    id,
    customer_id,
    first_name,
    last_name,
    company,
    address_1,
    address_2,
    city,
    province,
    postal_code,
    country_code,
    phone,
    metadata,
    created_at,
    updated_at,
});

by_position!(crate::customer_group::Model {
    id,
    name,
    metadata,
    created_at,
    updated_at,
    deleted_at,
});

by_position!(crate::session::Model {
    id,
    token_hash,
    admin_user_id,
    customer_id,
    created_at,
    expires_at,
    last_used_at,
    user_agent,
});

by_position!(crate::customer_group_customer::Model {
    customer_group_id,
    customer_id,
    created_at,
});

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, Iterable};

    use crate::{address, customer, customer_group, customer_group_customer, session};

    /// `listed` is `E`'s columns, in the order `E::find()` selects them.
    fn in_order<E: EntityTrait>(listed: &[&str]) {
        use sea_orm::IdenStatic;
        let columns: Vec<&str> = E::Column::iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, columns, "{}", std::any::type_name::<E>());
    }

    #[test]
    fn every_model_read_by_position_lists_its_entitys_columns_in_order() {
        in_order::<customer::Entity>(customer::Model::COLUMNS);
        in_order::<address::Entity>(address::Model::COLUMNS);
        in_order::<customer_group::Entity>(customer_group::Model::COLUMNS);
        in_order::<session::Entity>(session::Model::COLUMNS);
        in_order::<customer_group_customer::Entity>(customer_group_customer::Model::COLUMNS);
    }
}
