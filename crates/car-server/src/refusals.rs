//! The refusals every route under the token may answer besides its own,
//! added to the OpenAPI document in one place (so a client, or a fuzzer
//! checking the answers against the document, finds each of them): 401
//! without the right token; 403 beyond a user token's scope; on a
//! state-changing call, 429 past the rate
//! limit and 413 for a body over [`crate::MAX_BODY`].

use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// An answer with an [`crate::ErrorBody`].
fn error(description: &str) -> RefOr<Response> {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", body)
            .build(),
    )
}

/// Adds the refusals to every operation but `GET /health`'s.
pub(crate) fn document_refusals(doc: &mut OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        if path == "/health" {
            continue;
        }
        let ops = [
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
        ];
        for (changes, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            let answers = &mut op.responses.responses;
            answers
                .entry("401".into())
                .or_insert_with(|| error("no valid bearer token (or session)"));
            answers.entry("403".into()).or_insert_with(|| {
                error("beyond the scope of the user token (named in the message)")
            });
            if changes {
                answers
                    .entry("413".into())
                    .or_insert_with(|| error("the body is too large"));
                answers
                    .entry("429".into())
                    .or_insert_with(|| error("too many state-changing calls: see Retry-After"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_but_health_documents_the_token_refusal() {
        let doc = serde_json::to_value(crate::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let answers = &op["responses"];
                assert_eq!(
                    answers["401"].is_object(),
                    path != "/health",
                    "{method} {path}"
                );
                let changes = method != "get";
                assert_eq!(answers["429"].is_object(), changes, "{method} {path}");
            }
        }
        assert!(paths["/health"]["get"]["responses"]["401"].is_null());
    }
}
