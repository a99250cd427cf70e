//! The OpenAPI document, generated from the handlers themselves (utoipa-axum), so it cannot
//! drift from the router.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Postproxy API (self-hosted)",
        description = "Wire-compatible implementation of the Postproxy social-publishing API."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody, ValidationErrorBody, BadRequestBody)),
    tags(
        (name = "Profile groups", description = "Containers that group related social profiles"),
        (name = "Health", description = "Probes for load balancers and orchestrators"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer pp_…`"))
                    .build(),
            ),
        );
    }
}

/// `{"error": "…"}`, the body of most errors.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: error bodies are built by `ApiError::body`
pub struct ErrorBody {
    #[schema(example = "Not found")]
    pub error: String,
}

/// Validation failures: `error` joins the messages, `errors` lists them.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ValidationErrorBody {
    #[schema(example = "Name can't be blank")]
    pub error: String,
    pub errors: Option<Vec<String>>,
}

/// Malformed requests.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BadRequestBody {
    #[schema(example = 400)]
    pub status: u16,
    #[schema(example = "Bad Request")]
    pub error: String,
    pub message: String,
}
