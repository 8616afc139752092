//! ISO 4217 currency codes.

use std::fmt;

use crate::error::{DomainError, DomainResult};

/// The ISO 4217 codes of currencies in circulation (155 of them), sorted for binary
/// search. Fund codes (BOV, CLF, ...), precious metals (XAU, ...) and testing codes
/// (XTS, XXX) are left out: nobody pays for a basket of goods in them.
const CIRCULATING: [&str; 155] = [
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP",
    "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK",
    "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG",
    "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS",
    "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// A circulating ISO 4217 currency code, upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// Parses user input (any case, surrounding spaces ignored); `field` names the
    /// argument in the error.
    pub fn parse(input: &str, field: &str) -> DomainResult<Self> {
        let code = input.trim().to_ascii_uppercase();
        match CIRCULATING.binary_search(&code.as_str()) {
            Ok(_) => {
                let bytes = code.as_bytes();
                Ok(Self([bytes[0], bytes[1], bytes[2]]))
            }
            Err(_) => Err(DomainError::bad_input(
                field,
                "must be an ISO 4217 currency code, such as EUR or USD",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        // Built only from the ASCII codes above.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_circulating_codes_in_any_case() {
        assert_eq!(
            CurrencyCode::parse(" eur ", "currencyCode")
                .unwrap()
                .as_str(),
            "EUR"
        );
        assert_eq!(
            CurrencyCode::parse("JPY", "currencyCode").unwrap().as_str(),
            "JPY"
        );
    }

    #[test]
    fn rejects_unknown_and_non_currency_codes() {
        for bad in ["", "EU", "EURO", "XXX", "XAU", "ABC", "DEM"] {
            assert!(CurrencyCode::parse(bad, "currencyCode").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_list_is_sorted_and_unique() {
        assert!(CIRCULATING.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
