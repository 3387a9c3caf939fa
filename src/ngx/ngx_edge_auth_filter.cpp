/*
 * Header filter: the response side. When the upstream answers 401 to a
 * request that carried a cached OAuth token, that token is dropped from the
 * cache so that the next request fetches a fresh one (a token revoked or
 * rotated at the IdP before its expiry). A new or refreshed login session
 * sets its cookie here, on whatever response the request gets.
 */

#include "ngx/ngx_edge_auth.h"

static ngx_http_output_header_filter_pt ea_next_header_filter;


static ngx_int_t
ea_header_filter(ngx_http_request_t *r) noexcept
{
    try {
        if (r->upstream != NULL && r->headers_out.status == NGX_HTTP_UNAUTHORIZED) {
            ea_ctx_t *ctx = ea_get_ctx(r);
            if (ctx != NULL && ctx->oauth_sent != NULL) {
                ea_oauth_rejected(r, ctx->oauth_sent, ea_sv(ctx->oauth_sent_token));
                ctx->oauth_sent = NULL;
            }
        }
        if (r == r->main) {
            if (ea_oidc_header_filter(r) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "edge_auth: header filter: %s",
                      e.what());
    }
    return ea_next_header_filter(r);
}


ngx_int_t
ea_filter_init(ngx_conf_t *cf)
{
    ea_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ea_header_filter;
    return NGX_OK;
}
