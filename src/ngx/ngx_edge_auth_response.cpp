/*
 * The module's own denials: 401 with one WWW-Authenticate challenge per
 * enabled method that has one, a short text/plain body, nosniff and
 * no-store. A location with an error_page for the status (or `satisfy any`)
 * gets nginx's own handling instead, with the same headers.
 *
 *   HTTP/1.1 401 Unauthorized
 *   WWW-Authenticate: Basic realm="Restricted", charset="UTF-8"
 */

#include "ngx/ngx_edge_auth.h"

#include "core/header_value.h"

ngx_table_elt_t *
ea_add_header_out(ngx_http_request_t *r, const char *name, std::string_view value)
{
    ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(
        ngx_list_push(&r->headers_out.headers));
    if (h == NULL) {
        return NULL;
    }
    h->hash = 1;
    h->key.data = reinterpret_cast<u_char *>(const_cast<char *>(name));
    h->key.len = ngx_strlen(name);
    if (ea_pstr(r->pool, value, &h->value) != NGX_OK) {
        h->hash = 0;
        return NULL;
    }
    return h;
}


static bool
ea_has_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_http_core_loc_conf_t *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));

    if (clcf->error_pages == NULL || !r->uri_changes) {
        return false;
    }
    ngx_http_err_page_t *err = static_cast<ngx_http_err_page_t *>(clcf->error_pages->elts);
    for (ngx_uint_t i = 0; i < clcf->error_pages->nelts; i++) {
        if (err[i].status == static_cast<ngx_int_t>(status)) {
            return true;
        }
    }
    return false;
}


static ngx_int_t
ea_add_challenges(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx)
{
    std::string realm = "Restricted";
    if (lcf->realm != NULL) {
        ngx_str_t value;
        if (ngx_http_complex_value(r, lcf->realm, &value) != NGX_OK) {
            return NGX_ERROR;
        }
        realm.assign(ea_sv(value));
    }
    std::string quoted = edge_auth::quoted_string(realm);
    if (!edge_auth::is_safe_header_value(quoted)) {
        quoted = "\"Restricted\"";
    }

    bool bearer_done = false;
    for (ngx_uint_t i = 0; i < lcf->norder; i++) {
        std::string challenge;
        if (lcf->order[i] == EA_METHOD_BASIC) {
            if (ctx->bearer_error == 2) {
                continue;  /* a 403 only says which scope was missing */
            }
            challenge = "Basic realm=" + quoted + ", charset=\"UTF-8\"";
        } else if (lcf->order[i] == EA_METHOD_BEARER || lcf->order[i] == EA_METHOD_JWT
                   || lcf->order[i] == EA_METHOD_INTROSPECT || lcf->order[i] == EA_METHOD_OIDC)
        {
            if (bearer_done) {
                continue;  /* one Bearer challenge for both */
            }
            bearer_done = true;
            challenge = "Bearer realm=" + quoted;
            /* RFC 6750 3.1: say why when a token was presented */
            if (ctx->bearer_error == 1) {
                challenge += ", error=\"invalid_token\"";
            } else if (ctx->bearer_error == 2) {
                challenge += ", error=\"insufficient_scope\"";
            }
        } else {
            continue;  /* API keys have no challenge scheme */
        }
        ngx_table_elt_t *h = ea_add_header_out(r, "WWW-Authenticate", challenge);
        if (h == NULL) {
            return NGX_ERROR;
        }
        if (r->headers_out.www_authenticate == NULL) {
            r->headers_out.www_authenticate = h;
        }
    }
    return NGX_OK;
}


ngx_int_t
ea_deny(ngx_http_request_t *r, ea_loc_conf_t *lcf, ea_ctx_t *ctx,
    edge_auth::AuthStatus status)
{
    ngx_uint_t code = edge_auth::http_status(status);

    bool challenge = code == NGX_HTTP_UNAUTHORIZED
                     || (code == NGX_HTTP_FORBIDDEN && ctx->bearer_error == 2);
    if (challenge && ea_add_challenges(r, lcf, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_core_loc_conf_t *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_get_module_loc_conf(r, ngx_http_core_module));
    if (clcf->satisfy != NGX_HTTP_SATISFY_ALL || ea_has_error_page(r, code)) {
        if (ea_add_header_out(r, "X-Content-Type-Options", "nosniff") == NULL
            || ea_add_header_out(r, "Cache-Control", "no-store") == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return code;
    }

    /* Our own short body instead of nginx's HTML page. */
    static const char unauthorized[] = "401 Unauthorized\n";
    static const char forbidden[] = "403 Forbidden\n";
    static const char internal[] = "500 Internal Server Error\n";
    const char *text = code == NGX_HTTP_UNAUTHORIZED ? unauthorized
                       : code == NGX_HTTP_FORBIDDEN  ? forbidden
                                                     : internal;
    return ea_send(r, code, text);
}


ngx_int_t
ea_send(ngx_http_request_t *r, ngx_uint_t status, std::string_view body,
    std::string_view content_type)
{
    ea_ctx_t *ctx = ea_get_ctx(r);
    if (ctx != NULL && ctx->count_response && ctx->lcf != NULL) {
        ctx->count_response = 0;
        ea_count_response(r, ctx->lcf, status);
    }
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
    ngx_buf_t *b = static_cast<ngx_buf_t *>(ngx_calloc_buf(r->pool));
    ngx_str_t text, type;
    if (b == NULL || ea_pstr(r->pool, body, &text) != NGX_OK
        || ea_pstr(r->pool, content_type, &type) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }
    b->pos = text.data;
    b->last = b->pos + text.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    if (ea_add_header_out(r, "X-Content-Type-Options", "nosniff") == NULL
        || ea_add_header_out(r, "Cache-Control", "no-store") == NULL)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }
    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    if (body.empty()) {
        r->header_only = 1;  /* an empty memory buffer is refused downstream */
    }
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc == NGX_ERROR ? NGX_ERROR : NGX_OK);
        return NGX_DONE;
    }
    ngx_chain_t out = {b, NULL};
    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));
    return NGX_DONE;
}
