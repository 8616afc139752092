//! CORS for browser storefronts on other origins (`--cors-allowed-origins`).
//!
//! Off by default: server-to-server clients need no CORS headers, and without them a
//! browser on another origin cannot read a response. When on, preflights are answered
//! here (before the body limit or GraphQL see them) and allowed origins get
//! `Access-Control-Allow-Origin` echoed back, with `Vary: Origin`. Credentials
//! (cookies) are never allowed: tokens travel in `Authorization`, which a page must
//! set itself, so no other site can ride on a shopper's session.

use std::time::Duration;

use axum::http::{HeaderName, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::REQUEST_ID_HEADER;
use super::graphql::CONSISTENCY_HEADER;
use crate::app::CorsOrigins;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

pub fn layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static(CONSISTENCY_HEADER),
            ])
            .expose_headers([
                HeaderName::from_static(REQUEST_ID_HEADER),
                header::RETRY_AFTER,
                HeaderName::from_static(CONSISTENCY_HEADER),
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
