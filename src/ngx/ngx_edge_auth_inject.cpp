/*
 * Upstream authentication: after client authentication and before the
 * content phase, the request's own headers (r->headers_in) and query string
 * (r->args) are edited, so proxy_pass, grpc_pass, fastcgi_pass ... forward
 * the result. The credential the client presented is stripped here too.
 *
 *   edge_auth_upstream_header X-Api-Key env:BACKEND_KEY;
 *   edge_auth_upstream_query  api_key   $http_x_api_key;
 */

#include "ngx/ngx_edge_auth.h"

#include "core/base64.h"
#include "core/header_value.h"
#include "core/query.h"

static bool
ea_header_is(const ngx_table_elt_t *h, const ngx_str_t *lowcase)
{
    return h->key.len == lowcase->len
           && ngx_strncasecmp(h->key.data, lowcase->data, lowcase->len) == 0;
}


/* Appends the run [start, end) of a part's elements to the new chain. */
static bool
ea_append_run(ngx_pool_t *pool, ngx_table_elt_t *h, ngx_uint_t start,
    ngx_uint_t end, ngx_list_part_t **head, ngx_list_part_t **last)
{
    ngx_list_part_t *run = static_cast<ngx_list_part_t *>(
        ngx_palloc(pool, sizeof(ngx_list_part_t)));
    if (run == NULL) {
        return false;
    }
    run->elts = &h[start];
    run->nelts = end - start;
    run->next = NULL;
    if (*last) {
        (*last)->next = run;
    } else {
        *head = run;
    }
    *last = run;
    return true;
}


/*
 * Removes every header named `lowcase` from r->headers_in without moving any
 * other element: other modules hold pointers into the list (headers_in.host,
 * .cookies ...). The list is rebuilt as a chain of parts that point at the
 * runs of kept elements in the existing storage. Two invariants of nginx's
 * list users are kept: no part but the first is ever empty (header loops
 * such as the proxy module's read element 0 of the next part without
 * checking its count), and the last part counts as full (list->nalloc =
 * its nelts), so a later ngx_list_push gets fresh storage instead of writing
 * over a run that follows in the same array.
 */
void
ea_remove_header_in(ngx_http_request_t *r, ngx_str_t *lowcase)
{
    ngx_list_t *list = &r->headers_in.headers;
    ngx_list_part_t *head = NULL, *last = NULL;
    ngx_uint_t removed = 0;
    bool ok = true;

    /* The usual case, nothing to remove, costs one scan and no memory. */
    bool present = false;
    for (ngx_list_part_t *part = &list->part; part && !present; part = part->next) {
        ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts && !present; i++) {
            present = ea_header_is(&h[i], lowcase);
        }
    }
    if (!present) {
        return;
    }

    for (ngx_list_part_t *part = &list->part; part && ok; part = part->next) {
        ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(part->elts);
        ngx_uint_t start = 0;

        for (ngx_uint_t i = 0; i < part->nelts && ok; i++) {
            if (!ea_header_is(&h[i], lowcase)) {
                continue;
            }
            removed++;
            if (r->headers_in.authorization == &h[i]) {
                r->headers_in.authorization = NULL;
            }
            if (i > start) {
                ok = ea_append_run(r->pool, h, start, i, &head, &last);
            }
            start = i + 1;
        }
        if (ok && part->nelts > start) {
            ok = ea_append_run(r->pool, h, start, part->nelts, &head, &last);
        }
    }

    if (ok && removed == 0) {
        return;
    }

    if (ok && head == NULL) {
        void *elts = ngx_palloc(r->pool, list->nalloc * list->size);
        if (elts != NULL) {
            list->part.elts = elts;
            list->part.nelts = 0;
            list->part.next = NULL;
            list->last = &list->part;
            return;
        }
        ok = false;
    }

    if (ok) {
        list->part = *head;
        list->last = (last == head) ? &list->part : last;
        list->nalloc = list->last->nelts;
        return;
    }

    /* Out of memory: the header cannot be removed, so empty its value
     * rather than forward the credential. */
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (ea_header_is(&h[i], lowcase)) {
                h[i].value.len = 0;
            }
        }
    }
}


ngx_int_t
ea_set_header_in(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *lowcase,
    ngx_uint_t hash, ngx_str_t *value)
{
    ngx_list_t *list = &r->headers_in.headers;

    /* Replaces whatever the client sent under that name, never adds a
     * second one. */
    ea_remove_header_in(r, lowcase);

    ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(ngx_list_push(list));
    if (h == NULL) {
        return NGX_ERROR;
    }
    h->hash = hash;
    h->key = *name;
    h->lowcase_key = lowcase->data;
    h->value = *value;

    if (lowcase->len == sizeof("authorization") - 1
        && ngx_strncmp(lowcase->data, "authorization", lowcase->len) == 0)
    {
        r->headers_in.authorization = h;
    }
    return NGX_OK;
}


static void
ea_use_args(ngx_http_request_t *r, u_char *data, size_t len)
{
    r->args.data = data;
    r->args.len = len;
    /* proxy_pass without a URI part would otherwise forward the request
     * line as received, with the old query string. */
    r->valid_unparsed_uri = 0;
}


/* query_set / query_remove written straight into request-pool memory. */
static ngx_int_t
ea_args_set(ngx_http_request_t *r, std::string_view name, std::string_view value)
{
    std::string_view args = ea_sv(r->args);
    size_t bound = edge_auth::query_set_bound(args, name, value);
    u_char *p = static_cast<u_char *>(ngx_pnalloc(r->pool, bound ? bound : 1));
    if (p == NULL) {
        return NGX_ERROR;
    }
    ea_use_args(r, p, edge_auth::query_set_to(reinterpret_cast<char *>(p), args, name, value));
    return NGX_OK;
}


static ngx_int_t
ea_args_remove(ngx_http_request_t *r, std::string_view name)
{
    std::string_view args = ea_sv(r->args);
    u_char *p = static_cast<u_char *>(ngx_pnalloc(r->pool, args.size() ? args.size() : 1));
    if (p == NULL) {
        return NGX_ERROR;
    }
    ea_use_args(r, p, edge_auth::query_remove_to(reinterpret_cast<char *>(p), args, name));
    return NGX_OK;
}


/* A subrequest starts with a struct copy of its parent's headers_in, whose
 * list shares memory with the parent's: give it its own list before any
 * edit, so the parent's headers stay as they were. */
static ngx_int_t
ea_own_headers(ngx_http_request_t *r)
{
    static u_char owned;  /* marker stored as the subrequest's module ctx */

    if (r == r->main || ngx_http_get_module_ctx(r, ngx_http_edge_auth_module) == &owned) {
        return NGX_OK;
    }

    ngx_list_t copy;
    if (ngx_list_init(&copy, r->pool, 20, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return NGX_ERROR;
    }
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part; part = part->next) {
        ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            ngx_table_elt_t *to = static_cast<ngx_table_elt_t *>(ngx_list_push(&copy));
            if (to == NULL) {
                return NGX_ERROR;
            }
            *to = h[i];
        }
    }
    r->headers_in.headers = copy;
    r->headers_in.authorization = NULL;
    ngx_http_set_ctx(r, &owned, ngx_http_edge_auth_module);
    return NGX_OK;
}


/* Evaluates one injection's value; false when it cannot be sent. */
static bool
ea_inject_value(ngx_http_request_t *r, ea_inject_t *inj, ngx_str_t *out,
    const char **why)
{
    if (ngx_http_complex_value(r, inj->value, out) != NGX_OK) {
        *why = "cannot evaluate the value";
        return false;
    }
    if (inj->kind == EA_INJECT_BASIC) {
        ngx_str_t password;
        if (ngx_http_complex_value(r, inj->password, &password) != NGX_OK) {
            *why = "cannot evaluate the password";
            return false;
        }
        std::string_view user = ea_sv(*out);
        if (user.find(':') != std::string_view::npos) {
            *why = "the user name contains \":\"";
            return false;
        }
        std::string pair(user);
        pair += ':';
        pair += ea_sv(password);
        std::string header = "Basic " + edge_auth::base64_encode(pair);
        edge_auth::wipe(pair);
        ngx_int_t rc = ea_pstr(r->pool, header, out);
        edge_auth::wipe(header);
        if (rc != NGX_OK) {
            *why = "out of memory";
            return false;
        }
        if (!edge_auth::is_safe_header_value(ea_sv(password))) {
            *why = "the value contains CR, LF or NUL";
            return false;
        }
    }
    if (!edge_auth::is_safe_header_value(ea_sv(*out))) {
        *why = "the value contains CR, LF or NUL";
        return false;
    }
    return true;
}


/* The Authorization value for an OAuth client's token; NGX_AGAIN parks
 * the request until the token arrives (the phase runs again then). */
static ngx_int_t
ea_inject_oauth(ngx_http_request_t *r, ea_inject_t *inj, ea_ctx_t *ctx,
    ngx_str_t *value)
{
    if (ctx == NULL) {
        ctx = ea_get_ctx(r);
        if (ctx == NULL && (ctx = ea_create_ctx(r)) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    std::string token;
    ngx_int_t rc = ea_oauth_token(r, inj->oauth, ctx, &token);
    if (rc == NGX_AGAIN || rc == NGX_ERROR) {
        return rc == NGX_AGAIN ? NGX_AGAIN : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (rc != NGX_OK) {
        static const char reason[] = "upstream token unavailable";
        ctx->error.data = reinterpret_cast<u_char *>(const_cast<char *>(reason));
        ctx->error.len = sizeof(reason) - 1;
        return static_cast<ngx_int_t>(ea_oauth_on_error(inj->oauth));
    }
    if (!edge_auth::is_safe_header_value(token)
        || ea_pstr(r->pool, "Bearer " + token, value) != NGX_OK)
    {
        edge_auth::wipe(token);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->oauth_sent = inj->oauth;
    /* the header value itself, in the request pool; compared only if the
     * upstream answers 401 (no per-request hashing) */
    ctx->oauth_sent_token.data = value->data + sizeof("Bearer ") - 1;
    ctx->oauth_sent_token.len = value->len - (sizeof("Bearer ") - 1);
    edge_auth::wipe(token);
    return NGX_OK;
}


/* Removes the credential that client authentication consumed. */
static ngx_int_t
ea_strip(ngx_http_request_t *r, ea_ctx_t *ctx)
{
    static ngx_str_t authorization = ngx_string("authorization");

    switch (ctx->consumed) {
    case EA_CONSUMED_AUTHORIZATION:
        ea_remove_header_in(r, &authorization);
        break;
    case EA_CONSUMED_API_KEY_HEADER:
        ea_remove_header_in(r, &ctx->consumed_name);
        break;
    case EA_CONSUMED_API_KEY_QUERY:
        return ea_args_remove(r, ea_sv(ctx->consumed_name));
    default:
        break;
    }
    return NGX_OK;
}


ngx_int_t
ea_apply_upstream(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    ngx_uint_t n = lcf->injects ? lcf->injects->nelts : 0;
    ea_inject_t *injects = n ? static_cast<ea_inject_t *>(lcf->injects->elts) : NULL;
    ngx_str_t *values = NULL;

    /* Every value is computed before anything is stripped, so a value may
     * use the consumed credential (e.g. $http_x_api_key). */
    if (n > 0) {
        values = static_cast<ngx_str_t *>(ngx_palloc(r->pool, n * sizeof(ngx_str_t)));
        if (values == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (ngx_uint_t i = 0; i < n; i++) {
        const char *why = "";
        if (injects[i].kind == EA_INJECT_OAUTH) {
            ngx_int_t rc = ea_inject_oauth(r, &injects[i], ctx, &values[i]);
            if (rc != NGX_OK) {
                return rc;
            }
            continue;
        }
        if (!ea_inject_value(r, &injects[i], &values[i], &why)) {
            ea_log(r, NGX_LOG_ERR, "edge_auth: upstream %s \"%V\" not sent: %s",
                   injects[i].kind == EA_INJECT_QUERY ? "parameter" : "header",
                   &injects[i].name, why);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ea_own_headers(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r == r->main && ctx != NULL && ctx->authenticated && !ctx->bypassed
        && lcf->strip)
    {
        if (ea_strip(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    for (ngx_uint_t i = 0; i < n; i++) {
        ea_inject_t *inj = &injects[i];
        ngx_int_t rc;
        if (values[i].len == 0 && inj->kind != EA_INJECT_BASIC) {
            /* like proxy_set_header: an empty value means "do not send" */
            if (inj->kind == EA_INJECT_QUERY) {
                rc = ea_args_remove(r, ea_sv(inj->name));
            } else {
                ea_remove_header_in(r, &inj->lowcase);
                rc = NGX_OK;
            }
        } else if (inj->kind == EA_INJECT_OAUTH) {
            rc = ea_set_header_in(r, &inj->name, &inj->lowcase, inj->hash, &values[i]);
            if (rc == NGX_OK) {
                std::string_view token = ea_sv(values[i]).substr(sizeof("Bearer ") - 1);
                rc = ea_oauth_forward_claims(r, inj->oauth, token);
            }
        } else if (inj->kind == EA_INJECT_QUERY) {
            rc = ea_args_set(r, ea_sv(inj->name), ea_sv(values[i]));
        } else {
            rc = ea_set_header_in(r, &inj->name, &inj->lowcase, inj->hash, &values[i]);
        }
        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        if (values[i].len > 0 || inj->kind == EA_INJECT_BASIC) {
            ea_count_injection(r, lcf, inj->kind);
        }
    }
    return NGX_DECLINED;
}
