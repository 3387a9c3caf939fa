/*
 * Variables describing the client identity of the request:
 *   $edge_auth_user    user name (Basic) or token label (bearer, api_key)
 *   $edge_auth_method  basic | bearer | api_key | bypass
 *   $edge_auth_error   short reason of the denial ("password mismatch")
 *
 *   log_format auth '$remote_addr $edge_auth_method $edge_auth_user $edge_auth_error';
 */

#include "ngx/ngx_edge_auth.h"

enum ea_var_e : uintptr_t { EA_VAR_USER, EA_VAR_METHOD, EA_VAR_ERROR, EA_VAR_EMAIL,
                            EA_VAR_GROUPS };

/* Fills a variable value; an empty value is "not found". */
static ngx_int_t
ea_var_result(ngx_http_variable_value_t *v, ngx_str_t value)
{
    if (value.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }
    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}


static ngx_int_t
ea_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data) noexcept
try {
    ea_ctx_t *ctx = ea_get_ctx(r);
    ngx_str_t value = ngx_null_string;

    if (ctx != NULL) {
        switch (data) {
        case EA_VAR_USER:
            if (ctx->authenticated) {
                value = ctx->user;
            }
            break;
        case EA_VAR_METHOD:
            if (ctx->bypassed) {
                ngx_str_set(&value, "bypass");
            } else if (ctx->method == EA_METHOD_BASIC) {
                ngx_str_set(&value, "basic");
            } else if (ctx->method == EA_METHOD_BEARER) {
                ngx_str_set(&value, "bearer");
            } else if (ctx->method == EA_METHOD_API_KEY) {
                ngx_str_set(&value, "api_key");
            } else if (ctx->method == EA_METHOD_JWT) {
                ngx_str_set(&value, "jwt");
            } else if (ctx->method == EA_METHOD_INTROSPECT) {
                ngx_str_set(&value, "introspect");
            } else if (ctx->method == EA_METHOD_OIDC) {
                ngx_str_set(&value, "oidc");
            }
            break;
        case EA_VAR_EMAIL:
        case EA_VAR_GROUPS: {
            std::string buf;
            std::string_view c = ea_claim(ctx, data == EA_VAR_EMAIL ? "email" : "groups", &buf);
            if (!c.empty() && ea_pstr(r->pool, c, &value) != NGX_OK) {
                return NGX_ERROR;
            }
            break;
        }
        case EA_VAR_ERROR:
            value = ctx->error;
            break;
        }
    }

    return ea_var_result(v, value);
} catch (...) {
    v->not_found = 1;
    return NGX_OK;
}


/* $edge_auth_claim_<name>: a claim of the client identity; nested claims
 * with "__" for "." ($edge_auth_claim_realm_access__roles), arrays joined
 * with ",". */
static ngx_int_t
ea_claim_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data) noexcept
{
    try {
        ngx_str_t *name = reinterpret_cast<ngx_str_t *>(data);
        static const size_t prefix = sizeof("edge_auth_claim_") - 1;
        /* nginx variable names cannot hold dots: "__" stands for one */
        std::string path(ea_sv(*name).substr(std::min(prefix, name->len)));
        for (size_t at = path.find("__"); at != std::string::npos; at = path.find("__", at + 1)) {
            path.replace(at, 2, ".");
        }
        std::string buf;
        std::string_view c = path.empty() ? std::string_view()
                                          : ea_claim(ea_get_ctx(r), path, &buf);
        ngx_str_t value = ngx_null_string;
        if (!c.empty() && ea_pstr(r->pool, c, &value) != NGX_OK) {
            return NGX_ERROR;
        }
        return ea_var_result(v, value);
    } catch (...) {
        v->not_found = 1;
        return NGX_OK;
    }
}


ngx_int_t
ea_add_variables(ngx_conf_t *cf)
{
    static const struct {
        ngx_str_t name;
        uintptr_t data;
    } vars[] = {
        {ngx_string("edge_auth_user"), EA_VAR_USER},
        {ngx_string("edge_auth_method"), EA_VAR_METHOD},
        {ngx_string("edge_auth_error"), EA_VAR_ERROR},
        {ngx_string("edge_auth_email"), EA_VAR_EMAIL},
        {ngx_string("edge_auth_groups"), EA_VAR_GROUPS},
    };

    for (const auto &def : vars) {
        ngx_str_t name = def.name;
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &name,
                                                         NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = ea_variable;
        var->data = def.data;
    }

    static ngx_str_t claim_prefix = ngx_string("edge_auth_claim_");
    ngx_http_variable_t *var = ngx_http_add_variable(
        cf, &claim_prefix, NGX_HTTP_VAR_NOCACHEABLE | NGX_HTTP_VAR_PREFIX);
    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = ea_claim_variable;
    var->data = 0;  /* nginx passes the full variable name for prefix variables */
    return NGX_OK;
}
