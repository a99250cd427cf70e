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
    servers((url = "/", description = "The server that serves this document")),
    components(schemas(ErrorBody, ValidationErrorBody, BadRequestBody)),
    tags(
        (name = "Profile groups", description = "Containers that group related social profiles"),
        (name = "Profiles", description = "Connected social accounts"),
        (name = "Posts", description = "Publish, schedule and manage posts"),
        (name = "API keys", description = "The account's API keys (full-access keys only)"),
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

/// What every API operation may answer besides its own responses (rate limiting, malformed
/// bodies, idempotency), documented in one place so no operation forgets them. Applied to the
/// finished document (derive-time modifiers run before the routes add their paths).
pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::Header;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder, schema::ObjectBuilder, schema::Type};

        let response_builder = |description: &str, schema: &str| {
            ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            )
        };
        let response = |description: &str, schema: &str| response_builder(description, schema).build();
        let header = |description: &str, ty: Type| {
            let mut h = Header::new(ObjectBuilder::new().schema_type(ty).build());
            h.description = Some(description.to_string());
            h
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/") || path == "/api/openapi.json" {
                continue;
            }
            let multipart = path == "/api/posts" || path == "/api/posts/{id}";
            let bodies = [&mut item.post, &mut item.put, &mut item.patch];
            for op in bodies.into_iter().flatten() {
                let Some(utoipa::openapi::RefOr::T(body)) = op.request_body.as_mut() else {
                    continue;
                };
                // Every JSON body may also come form-encoded (Rails-style bracketed names).
                if let Some(json) = body.content.get("application/json").cloned() {
                    body.content
                        .entry("application/x-www-form-urlencoded".into())
                        .or_insert(json);
                }
                if multipart {
                    body.content.entry("multipart/form-data".into()).or_insert_with(|| {
                        ContentBuilder::new()
                            .schema(Some(post_multipart_schema()))
                            .build()
                            .into()
                    });
                }
                let r = &mut op.responses.responses;
                r.entry("413".into()).or_insert_with(|| {
                    response("Body too large (1 MiB; multipart posts with files 64 MiB)", "ErrorBody").into()
                });
                r.entry("415".into()).or_insert_with(|| {
                    response(
                        "Unsupported Content-Type (JSON, form-encoded, or multipart for posts)",
                        "ErrorBody",
                    )
                    .into()
                });
            }
            let writes = [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in writes.into_iter().flatten() {
                let r = &mut op.responses.responses;
                r.entry("409".into()).or_insert_with(|| {
                    response(
                        "A request with the same Idempotency-Key is still in progress",
                        "ErrorBody",
                    )
                    .into()
                });
                r.entry("400".into())
                    .or_insert_with(|| response("Malformed request", "BadRequestBody").into());
                r.entry("422".into()).or_insert_with(|| {
                    response(
                        "Validation failed, or the Idempotency-Key was used for another request",
                        "ValidationErrorBody",
                    )
                    .into()
                });
                op.parameters.get_or_insert_with(Vec::new).push(
                    ParameterBuilder::new()
                        .name("Idempotency-Key")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "Makes the request safe to retry: a repeat within 24 h returns the first response \
                             (1 to 255 characters).",
                        ))
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .min_length(Some(1))
                                .max_length(Some(255)),
                        ))
                        .build()
                        .into(),
                );
            }
            let all = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in all.into_iter().flatten() {
                // The SDKs send `profile_group_id` on every request; where an operation does not
                // declare it (one object by id), it is accepted and ignored.
                let params = op.parameters.get_or_insert_with(Vec::new);
                let declared = params
                    .iter()
                    .any(|p| matches!(p, utoipa::openapi::RefOr::T(p) if p.name == "profile_group_id"));
                if !declared {
                    params.push(
                        ParameterBuilder::new()
                            .name("profile_group_id")
                            .parameter_in(ParameterIn::Query)
                            .required(Required::False)
                            .description(Some(
                                "Accepted and ignored here (the SDKs send their default profile group on every \
                                 request; an id already names one object).",
                            ))
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .build()
                            .into(),
                    );
                }
                let r = &mut op.responses.responses;
                r.insert(
                    "429".into(),
                    response_builder("Rate limit for this API key exceeded", "ErrorBody")
                        .header("Retry-After", header("Seconds to wait before retrying", Type::Integer))
                        .build()
                        .into(),
                );
                r.insert(
                    "401".into(),
                    response_builder("Invalid API key (missing, unknown or revoked)", "ErrorBody")
                        .header("WWW-Authenticate", header("Always `Bearer`", Type::String))
                        .build()
                        .into(),
                );
            }
        }
    }
}

/// `POST /api/posts` and `PATCH /api/posts/{id}` as `multipart/form-data` (what the SDKs send
/// with local files): Rails-style bracketed names; `thread` and `platforms` may instead be one
/// field holding JSON (what the MCP server sends).
fn post_multipart_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let text = |d: &str| ObjectBuilder::new().schema_type(Type::String).description(Some(d));
    let file_or_url = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("A file part (with a filename) or a media URL"))
        .content_media_type("application/octet-stream");
    ObjectBuilder::new()
        .property("post[body]", text("The post's text"))
        .property("post[scheduled_at]", text("ISO 8601 time to publish at"))
        .property("post[draft]", text("`true` saves a draft"))
        .property(
            "profiles[]",
            ArrayBuilder::new().items(text("A profile id or platform name")),
        )
        .property("media[]", ArrayBuilder::new().items(file_or_url))
        .property(
            "thread",
            text("The thread as one JSON array (instead of `thread[<i>][body]` fields)"),
        )
        .property(
            "platforms",
            text("Platform parameters as one JSON object (instead of `platforms[<p>][<key>]` fields)"),
        )
        .description(Some(
            "Also `thread[<i>][body]`, `thread[<i>][media][]` (files or URLs) and `platforms[<platform>][<key>]`.",
        ))
        .into()
}

/// `{"error": "…"}`, the body of most errors.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: error bodies are built by `ApiError::body`
pub struct ErrorBody {
    #[schema(example = "Not found")]
    pub error: String,
}

/// Every 422: `error` is the first problem, `errors` lists them all.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ValidationErrorBody {
    #[schema(example = "Name can't be blank")]
    pub error: String,
    pub errors: Vec<String>,
}

/// An identical post was created moments ago.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DuplicateBody {
    #[schema(example = "Duplicate post")]
    pub error: String,
    pub duplicate_post_id: String,
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
