/*
 * Access phase: finds the credential the request carries, in the order of
 * `edge_auth`, verifies it, records the identity for the variables, and
 * denies anything else. Precontent phase: upstream injection and stripping.
 *
 *   location /api/ { edge_auth bearer api_key; edge_auth_token env:T; proxy_pass ...; }
 */

#include "ngx/ngx_edge_auth.h"

#include <cstdarg>

#include "core/credentials.h"
#include "core/header_value.h"
#include "core/query.h"
#include "core/token_set.h"

using edge_auth::AuthStatus;

/* ---- per-request context ------------------------------------------------ */

static void
ea_ctx_cleanup(void *data) noexcept
{
    /* Only a marker: it lets ea_get_ctx find the context again after an
     * internal redirect cleared r->ctx. The context is pool memory. */
}


ea_ctx_t *
ea_get_ctx(ngx_http_request_t *r)
{
    r = r->main;
    ea_ctx_t *ctx = static_cast<ea_ctx_t *>(
        ngx_http_get_module_ctx(r, ngx_http_edge_auth_module));
    if (ctx != NULL) {
        return ctx;
    }
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ea_ctx_cleanup) {
            ctx = static_cast<ea_ctx_t *>(cln->data);
            if (ctx->request == r) {
                ngx_http_set_ctx(r, ctx, ngx_http_edge_auth_module);
                return ctx;
            }
        }
    }
    return NULL;
}


ea_ctx_t *
ea_create_ctx(ngx_http_request_t *r)
{
    r = r->main;
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, 0);
    ea_ctx_t *ctx = static_cast<ea_ctx_t *>(ngx_pcalloc(r->pool, sizeof(ea_ctx_t)));
    if (cln == NULL || ctx == NULL) {
        return NULL;
    }
    ctx->request = r;
    ctx->state = EaState::Start;
    ctx->status = AuthStatus::NoCredential;
    cln->handler = ea_ctx_cleanup;
    cln->data = ctx;
    ngx_http_set_ctx(r, ctx, ngx_http_edge_auth_module);
    return ctx;
}

/* ---- logging without the query string ---------------------------------- */

/* nginx's own context would add the request line, whose query string may
 * hold an API key; this one names client, server and path only. */
static u_char *
ea_log_context(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_request_t *r = static_cast<ngx_http_request_t *>(log->data);
    ngx_http_core_srv_conf_t *cscf = static_cast<ngx_http_core_srv_conf_t *>(
        ngx_http_get_module_srv_conf(r, ngx_http_core_module));

    return ngx_snprintf(buf, len, ", client: %V, server: %V, request: \"%V %V\"",
                        &r->connection->addr_text, &cscf->server_name,
                        &r->method_name, &r->uri);
}


void
ea_log(ngx_http_request_t *r, ngx_uint_t level, const char *fmt, ...)
{
    if (r->connection->log->log_level < level) {
        return;
    }
    u_char buf[NGX_MAX_ERROR_STR];
    va_list args;
    va_start(args, fmt);
    u_char *last = ngx_vslprintf(buf, buf + sizeof(buf) - 256, fmt, args);
    va_end(args);

    ngx_log_t log = *r->connection->log;
    log.handler = ea_log_context;
    log.data = r;
    log.action = NULL;
    ngx_log_error(level, &log, 0, "%*s", static_cast<size_t>(last - buf), buf);
}

/* ---- client authentication --------------------------------------------- */

static const char *
ea_method_name(ngx_uint_t method)
{
    switch (method) {
    case EA_METHOD_BASIC:
        return "basic";
    case EA_METHOD_BEARER:
        return "bearer";
    case EA_METHOD_API_KEY:
        return "api_key";
    case EA_METHOD_JWT:
        return "jwt";
    case EA_METHOD_INTROSPECT:
        return "introspect";
    case EA_METHOD_OIDC:
        return "oidc";
    default:
        return "none";
    }
}


static ngx_int_t
ea_check_token(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    std::string_view token)
{
    AuthStatus status = edge_auth::check_token_syntax(token);
    if (status != AuthStatus::Ok) {
        ctx->status = status;
        return NGX_DECLINED;
    }
    const std::string *label = lcf->tokens ? lcf->tokens->find(token) : NULL;
    if (label == NULL) {
        ctx->status = AuthStatus::UnknownToken;
        return NGX_DECLINED;
    }
    if (ea_pstr(r->pool, *label, &ctx->user) != NGX_OK) {
        return NGX_ERROR;
    }
    ctx->status = AuthStatus::Ok;
    return NGX_OK;
}


static ngx_table_elt_t *
ea_find_header(ngx_http_request_t *r, ngx_str_t *lowcase)
{
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part; part = part->next) {
        ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].key.len == lowcase->len
                && ngx_strncasecmp(h[i].key.data, lowcase->data, lowcase->len) == 0)
            {
                return &h[i];
            }
        }
    }
    return NULL;
}


/* $request (the access log's request line) must not show a query API key:
 * nginx logs the line as the client sent it. */
static void
ea_redact_request_line(ngx_http_request_t *r, std::string_view name)
{
    std::optional<std::string> line =
        edge_auth::redact_request_line(ea_sv(r->request_line), name);
    ngx_str_t copy;
    if (line && ea_pstr(r->pool, *line, &copy) == NGX_OK) {
        r->request_line = copy;
    }
}


/* The API key the request carries, from the configured places in order. */
static bool
ea_find_api_key(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    std::string *key)
{
    static ea_key_source_t default_source = {
        0, ngx_string("X-API-Key"), ngx_string("x-api-key")};

    ea_key_source_t *sources = &default_source;
    ngx_uint_t n = 1;
    if (lcf->key_sources != NULL) {
        sources = static_cast<ea_key_source_t *>(lcf->key_sources->elts);
        n = lcf->key_sources->nelts;
    }

    for (ngx_uint_t i = 0; i < n; i++) {
        if (sources[i].query) {
            std::optional<std::string> v =
                edge_auth::query_get(ea_sv(r->args), ea_sv(sources[i].name));
            if (v) {
                *key = std::move(*v);
                ctx->consumed = EA_CONSUMED_API_KEY_QUERY;
                ctx->consumed_name = sources[i].name;
                ea_redact_request_line(r, ea_sv(sources[i].name));
                return true;
            }
        } else {
            ngx_table_elt_t *h = ea_find_header(r, &sources[i].lowcase);
            if (h != NULL) {
                key->assign(ea_sv(h->value));
                ctx->consumed = EA_CONSUMED_API_KEY_HEADER;
                ctx->consumed_name = sources[i].lowcase;
                return true;
            }
        }
    }
    return false;
}


/* NGX_OK: authenticated; NGX_DECLINED: denied (ctx->status says why);
 * NGX_AGAIN: parked until a slow check completes; NGX_ERROR. */
static ngx_int_t
ea_authenticate(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    edge_auth::AuthorizationHeader auth;
    ngx_table_elt_t *h = r->headers_in.authorization;
    bool has_auth = false;

    if (h != NULL) {
        /* Each method applies its own limit (4 KB for Basic and static
         * tokens, the JOSE limit for JWTs); this one only bounds parsing. */
        if (h->value.len > 64 * 1024) {
            ctx->status = AuthStatus::CredentialTooLong;
            return NGX_DECLINED;
        }
        has_auth = edge_auth::split_authorization(ea_sv(h->value), auth);
    }

    for (ngx_uint_t i = 0; i < lcf->norder; i++) {
        ngx_uint_t method = lcf->order[i];

        if (method == EA_METHOD_BASIC && has_auth
            && edge_auth::scheme_equals(auth.scheme, "basic"))
        {
            ctx->method = method;
            ctx->consumed = EA_CONSUMED_AUTHORIZATION;
            ctx->auth_store = lcf->users;
            return ea_basic_authenticate(r, lcf, ctx, auth.credentials);
        }
        bool bearer_scheme = has_auth && edge_auth::scheme_equals(auth.scheme, "bearer");
        bool both = (lcf->methods & (EA_METHOD_BEARER | EA_METHOD_JWT))
                    == (EA_METHOD_BEARER | EA_METHOD_JWT);

        if (method == EA_METHOD_JWT) {
            /* with bearer too, a Bearer credential is a JWT when it has
             * three dot-separated parts, else a static token */
            if (lcf->jwt_token != NULL) {
                ngx_str_t token;
                if (ngx_http_complex_value(r, lcf->jwt_token, &token) != NGX_OK) {
                    return NGX_ERROR;
                }
                if (token.len > 0) {
                    ctx->method = method;
                    ctx->auth_store = lcf->jwt;
                    return ea_jwt_authenticate(r, lcf, ctx, ea_sv(token));
                }
            } else if (bearer_scheme
                       && (!both || ea_looks_like_jwt(auth.credentials)))
            {
                ctx->method = method;
                ctx->consumed = EA_CONSUMED_AUTHORIZATION;
                ctx->auth_store = lcf->jwt;
                if (auth.credentials.empty()) {
                    ctx->status = AuthStatus::MalformedCredential;
                    return NGX_DECLINED;
                }
                return ea_jwt_authenticate(r, lcf, ctx, auth.credentials);
            }
            continue;
        }
        if (method == EA_METHOD_BEARER && bearer_scheme
            && (!both || lcf->jwt_token != NULL || !ea_looks_like_jwt(auth.credentials)))
        {
            ctx->method = method;
            ctx->consumed = EA_CONSUMED_AUTHORIZATION;
            ctx->auth_store = lcf->tokens;
            ngx_int_t rc = ea_check_token(r, lcf, ctx, auth.credentials);
            if (rc == NGX_DECLINED && ctx->status == AuthStatus::UnknownToken
                && (lcf->methods & EA_METHOD_INTROSPECT))
            {
                continue;  /* not a static token: the IdP may know it */
            }
            return rc;
        }
        if (method == EA_METHOD_INTROSPECT && bearer_scheme
            && !((lcf->methods & EA_METHOD_JWT) && ea_looks_like_jwt(auth.credentials)))
        {
            /* a configured static token is never sent to the IdP, whatever
             * the order of the methods */
            if ((lcf->methods & EA_METHOD_BEARER) && lcf->tokens != NULL
                && lcf->tokens->find(auth.credentials) != NULL)
            {
                ctx->method = EA_METHOD_BEARER;
                ctx->consumed = EA_CONSUMED_AUTHORIZATION;
                ctx->auth_store = lcf->tokens;
                return ea_check_token(r, lcf, ctx, auth.credentials);
            }
            ctx->method = method;
            ctx->consumed = EA_CONSUMED_AUTHORIZATION;
            ctx->auth_store = lcf->introspection;
            return ea_introspect_authenticate(r, lcf, ctx, auth.credentials);
        }
        if (method == EA_METHOD_OIDC && ea_oidc_has_session_cookie(r, lcf->oidc, ctx)) {
            ctx->method = method;
            ctx->auth_store = lcf->oidc;
            ngx_int_t rc = ea_oidc_authenticate(r, lcf, ctx);
            if (rc != NGX_DECLINED || ctx->status != AuthStatus::NoCredential) {
                return rc;
            }
            ctx->method = 0;  /* no usable session: another credential may do */
            continue;
        }
        if (method == EA_METHOD_API_KEY) {
            std::string key;
            if (ea_find_api_key(r, lcf, ctx, &key)) {
                ctx->method = method;
                ctx->auth_store = lcf->tokens;
                ngx_int_t rc = ea_check_token(r, lcf, ctx, key);
                edge_auth::wipe(key);
                return rc;
            }
        }
    }

    if (lcf->methods & EA_METHOD_OIDC) {
        /* nothing else matched: a browser logs in, an API call gets 401 */
        ctx->method = EA_METHOD_OIDC;
        return ea_oidc_unauthenticated(r, lcf, ctx);
    }
    if (h == NULL) {
        ctx->status = AuthStatus::NoCredential;
    } else if (!has_auth || auth.credentials.empty()) {
        ctx->status = AuthStatus::MalformedCredential;
    } else {
        ctx->status = AuthStatus::UnsupportedScheme;
    }
    return NGX_DECLINED;
}


static ngx_int_t
ea_finish(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    ctx->count_response = 0;  /* counted here, not again by ea_send */
    if (ctx->status == AuthStatus::Ok) {
        ctx->authenticated = 1;
        ctx->error.len = 0;
        ea_count_request(r, lcf, EA_OUTCOME_ALLOWED);
        return NGX_OK;
    }
    ngx_uint_t code = edge_auth::http_status(ctx->status);
    ea_count_request(r, lcf, code == NGX_HTTP_UNAUTHORIZED ? EA_OUTCOME_DENIED_401
                             : code == NGX_HTTP_FORBIDDEN  ? EA_OUTCOME_DENIED_403
                                                           : EA_OUTCOME_ERROR);

    ctx->authenticated = 0;
    std::string_view why = ctx->detail.len ? ea_sv(ctx->detail) : edge_auth::reason(ctx->status);
    ctx->error.data = reinterpret_cast<u_char *>(const_cast<char *>(why.data()));
    ctx->error.len = why.size();

    ngx_http_core_loc_conf_t *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    bool noisy = ctx->status == AuthStatus::UnknownUser
                 || ctx->status == AuthStatus::BadPassword
                 || ctx->status == AuthStatus::UnknownToken
                 || ctx->status == AuthStatus::UserFileUnavailable
                 || ctx->status == AuthStatus::InvalidToken
                 || ctx->status == AuthStatus::Forbidden
                 || ctx->status == AuthStatus::InternalError;

    if (ctx->method == EA_METHOD_BASIC && ctx->user.len > 0) {
        std::string user = edge_auth::log_safe(ea_sv(ctx->user));
        ea_log(r, noisy ? NGX_LOG_ERR : NGX_LOG_INFO,
               "edge_auth: denied in location \"%V\": %V request, %s: %*s, "
               "user \"%s\"", &clcf->name, &r->method_name,
               ea_method_name(ctx->method), why.size(), why.data(), user.c_str());
    } else {
        ea_log(r, noisy ? NGX_LOG_ERR : NGX_LOG_INFO,
               "edge_auth: denied in location \"%V\": %V request, %s: %*s",
               &clcf->name, &r->method_name, ea_method_name(ctx->method),
               why.size(), why.data());
    }
    ctx->user.len = 0;
    return ea_deny(r, lcf, ctx, ctx->status);
}


/* After an internal redirect the credential may already be stripped; a
 * request authenticated earlier against the same users or tokens by a
 * method this location accepts keeps its identity. */
static bool
ea_still_authenticated(ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    if (!ctx->authenticated || ctx->bypassed || !(lcf->methods & ctx->method)) {
        return false;
    }
    const void *store = ctx->method == EA_METHOD_BASIC ? static_cast<const void *>(lcf->users)
                        : ctx->method == EA_METHOD_JWT ? static_cast<const void *>(lcf->jwt)
                        : ctx->method == EA_METHOD_INTROSPECT
                            ? static_cast<const void *>(lcf->introspection)
                        : ctx->method == EA_METHOD_OIDC ? static_cast<const void *>(lcf->oidc)
                            : static_cast<const void *>(lcf->tokens);
    return store == ctx->auth_store;
}


static ngx_int_t
ea_access(ngx_http_request_t *r)
{
    ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_edge_auth_module));

    if (lcf->methods == 0) {
        return NGX_DECLINED;
    }

    ea_ctx_t *ctx = ea_get_ctx(r);
    if (ctx == NULL) {
        ctx = ea_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->lcf != lcf) {
        if (ctx->lcf != NULL && ea_still_authenticated(lcf, ctx)) {
            ctx->lcf = lcf;
            return NGX_OK;
        }
        ctx->lcf = lcf;
        ctx->state = EaState::Start;
        ctx->method = 0;
        ctx->consumed = EA_CONSUMED_NONE;
        ctx->authenticated = 0;
        ctx->bypassed = 0;
        ctx->user.len = 0;
        ctx->detail.len = 0;
        ctx->bearer_error = 0;
        ctx->claims = NULL;
        ctx->session = NULL;
        ctx->jwks_waited = NULL;
        ctx->introspect_waited = 0;
    }

    if (ctx->parked) {
        return NGX_AGAIN;  /* run by an event while it waits: keep waiting */
    }

    switch (ctx->state) {
    case EaState::Waiting:
        return NGX_AGAIN;
    case EaState::Done:
        return ea_finish(r, lcf, ctx);
    case EaState::Start:
        break;
    }

    if (lcf->bypass != NULL && ngx_http_test_predicates(r, lcf->bypass) == NGX_DECLINED) {
        ctx->state = EaState::Done;
        ctx->status = AuthStatus::Ok;
        ctx->bypassed = 1;
        ctx->authenticated = 1;
        ea_count_request(r, lcf, EA_OUTCOME_BYPASSED);
        return NGX_OK;
    }

    ctx->count_response = 1;
    ngx_int_t rc = ea_authenticate(r, lcf, ctx);
    if (rc == NGX_AGAIN || rc == NGX_DONE) {
        /* parked, or a response was sent (login redirect, 503) and counted;
         * the request may be finalized: touch nothing */
        return rc;
    }
    ctx->count_response = 0;
    if (rc == NGX_ERROR) {
        ctx->status = AuthStatus::InternalError;
    }
    ctx->state = EaState::Done;
    return ea_finish(r, lcf, ctx);
}


ngx_int_t
ea_access_handler(ngx_http_request_t *r) noexcept
{
    try {
        return ea_access(r);
    } catch (const std::exception &e) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: access phase failed: %s", e.what());
    } catch (...) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: access phase failed");
    }
    try {
        ea_count_request(r, static_cast<ea_loc_conf_t *>(
            ngx_http_get_module_loc_conf(r, ngx_http_edge_auth_module)), EA_OUTCOME_ERROR);
    } catch (...) {
    }
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


ngx_int_t
ea_precontent_handler(ngx_http_request_t *r) noexcept
{
    try {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(
            ngx_http_get_module_loc_conf(r, ngx_http_edge_auth_module));
        ea_ctx_t *ctx = ea_get_ctx(r);
        bool strip = r == r->main && ctx != NULL && ctx->authenticated && ctx->consumed;
        bool claims = lcf->claim_headers != NULL || lcf->identity_headers;
        bool session = r == r->main && ctx != NULL && ctx->authenticated
                       && ctx->session != NULL;

        if (session) {
            ngx_int_t rc = ea_oidc_upstream(r, lcf, ctx);
            if (rc != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (lcf->injects == NULL && !strip && !claims) {
            return NGX_DECLINED;
        }
        if (claims) {
            ngx_int_t rc = ea_claims_upstream(r, lcf, ctx);
            if (rc != NGX_OK) {
                return rc;
            }
        }
        return ea_apply_upstream(r, lcf, ctx);
    } catch (const std::exception &e) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: upstream injection failed: %s", e.what());
    } catch (...) {
        ea_log(r, NGX_LOG_ERR, "edge_auth: upstream injection failed");
    }
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}
