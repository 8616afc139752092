//! Money: an integer amount in the currency's minor unit, with its currency.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};

/// A 64-bit integer, sent as a JSON number. GraphQL's `Int` is 32-bit: in cents it
/// tops out at 21,474,836.47, too little for an order total in some currencies.
/// Amounts stay below 2^53, so JavaScript clients read them exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(pub i64);

#[Scalar]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(Long)
                .ok_or_else(|| InputValueError::custom("expected a whole number")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// An amount of money.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// In the currency's minor unit (cents for USD, yen for JPY).
    pub amount: Long,
    /// ISO 4217 code, upper-case.
    pub currency_code: String,
}

impl Money {
    pub fn new(amount: i64, currency_code: &str) -> Self {
        Self {
            amount: Long(amount),
            currency_code: currency_code.to_owned(),
        }
    }
}
