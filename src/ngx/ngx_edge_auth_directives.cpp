/*
 * Directive parsing. Values are checked here, at configuration load, so that
 * `nginx -t` names the file, the line and the reason; secret references
 * (file:, env:) are resolved here and never logged.
 *
 *   edge_auth basic bearer;
 *   edge_auth_upstream_header X-Api-Key file:/etc/nginx/upstream.key;
 */

#include "ngx/ngx_edge_auth.h"

#include <memory>
#include <new>

#include "core/base64.h"
#include "core/claims.h"
#include "core/credentials.h"
#include "core/header_value.h"
#include "core/htpasswd.h"
#include "core/jwk.h"
#include "core/redis_url.h"
#include "core/secret_ref.h"
#include "core/token_set.h"

using edge_auth::Result;

static char *ea_conf_methods(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_user_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_user(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_token_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_key_from(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_upstream(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_jwt_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_claim_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;
static char *ea_conf_session_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept;

#define EA_HTTP_ANY_CONF (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF)

ngx_command_t ea_commands[] = {

    { ngx_string("edge_auth"),
      EA_HTTP_ANY_CONF | NGX_CONF_1MORE,
      ea_conf_methods, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_bypass"),
      EA_HTTP_ANY_CONF | NGX_CONF_1MORE,
      ngx_http_set_predicate_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, bypass), NULL },

    { ngx_string("edge_auth_realm"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, realm), NULL },

    { ngx_string("edge_auth_user_file"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ea_conf_user_file, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_user"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE2,
      ea_conf_user, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_token"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE12,
      ea_conf_token, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_token_file"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ea_conf_token_file, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_api_key_from"),
      EA_HTTP_ANY_CONF | NGX_CONF_1MORE,
      ea_conf_key_from, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_strip_credentials"),
      EA_HTTP_ANY_CONF | NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, strip), NULL },

    { ngx_string("edge_auth_jwt_keys"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE123,
      ea_conf_jwt_keys, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_jwt_secret"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ea_conf_jwt_secret, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_jwt_algorithms"),
      EA_HTTP_ANY_CONF | NGX_CONF_1MORE,
      ea_conf_str_list, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, jwt_algorithms), NULL },

    { ngx_string("edge_auth_jwt_issuer"),
      EA_HTTP_ANY_CONF | NGX_CONF_1MORE,
      ea_conf_str_list, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, jwt_issuers), NULL },

    { ngx_string("edge_auth_jwt_audience"),
      EA_HTTP_ANY_CONF | NGX_CONF_1MORE,
      ea_conf_str_list, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, jwt_audiences), NULL },

    { ngx_string("edge_auth_jwt_leeway"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, jwt_leeway), NULL },

    { ngx_string("edge_auth_jwt_require_exp"),
      EA_HTTP_ANY_CONF | NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, jwt_require_exp), NULL },

    { ngx_string("edge_auth_jwt_token"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, jwt_token), NULL },

    { ngx_string("edge_auth_introspection"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE123,
      ea_conf_introspection, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_require"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE23,
      ea_conf_require, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_claim_header"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE2,
      ea_conf_claim_header, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_identity_headers"),
      EA_HTTP_ANY_CONF | NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ea_loc_conf_t, identity_headers), NULL },

    { ngx_string("edge_auth_upstream_header"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE2,
      ea_conf_upstream, NGX_HTTP_LOC_CONF_OFFSET, EA_INJECT_HEADER, NULL },

    { ngx_string("edge_auth_upstream_basic"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE2,
      ea_conf_upstream, NGX_HTTP_LOC_CONF_OFFSET, EA_INJECT_BASIC, NULL },

    { ngx_string("edge_auth_upstream_query"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE2,
      ea_conf_upstream, NGX_HTTP_LOC_CONF_OFFSET, EA_INJECT_QUERY, NULL },

    { ngx_string("edge_auth_upstream_oauth"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ea_conf_upstream, NGX_HTTP_LOC_CONF_OFFSET, EA_INJECT_OAUTH, NULL },

    { ngx_string("edge_auth_oidc_provider"),
      NGX_HTTP_MAIN_CONF | NGX_CONF_BLOCK | NGX_CONF_TAKE1,
      ea_conf_oidc_provider, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_oidc"),
      EA_HTTP_ANY_CONF | NGX_CONF_TAKE1,
      ea_conf_oidc, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_oauth_client"),
      NGX_HTTP_MAIN_CONF | NGX_CONF_BLOCK | NGX_CONF_TAKE1,
      ea_conf_oauth_client, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_redis"),
      NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE123,
      ea_conf_redis, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_session_secret"),
      NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
      ea_conf_session_secret, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_zone"),
      NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
      ea_conf_zone, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_thread_pool"),
      NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
      ea_conf_thread_pool, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL },

    { ngx_string("edge_auth_status"),
      NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
      ea_conf_status, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },

    ngx_null_command
};


/* Runs a directive body, turning exceptions into a configuration error. */
template <typename Body>
static char *
ea_conf_guard(ngx_conf_t *cf, Body body) noexcept
{
    try {
        return body();
    } catch (const std::exception &e) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: %s", e.what());
    } catch (...) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth: unexpected error");
    }
    return static_cast<char *>(NGX_CONF_ERROR);
}


/* Destroys a C++ object owned by the configuration when its pool goes. */
template <typename T>
static void
ea_delete_cleanup(void *data) noexcept
{
    delete static_cast<T *>(data);
}


template <typename T>
static T *
ea_conf_own(ngx_conf_t *cf, std::unique_ptr<T> object)
{
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        throw std::bad_alloc();
    }
    cln->handler = ea_delete_cleanup<T>;
    cln->data = object.release();
    return static_cast<T *>(cln->data);
}


static char *
ea_conf_methods(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

    if (lcf->methods != NGX_CONF_UNSET_UINT) {
        return const_cast<char *>("is duplicate");
    }

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        lcf->methods = 0;
        return NGX_CONF_OK;
    }

    static const struct {
        const char *name;
        ngx_uint_t bit;
    } known[] = {
        {"basic", EA_METHOD_BASIC},
        {"bearer", EA_METHOD_BEARER},
        {"api_key", EA_METHOD_API_KEY},
        {"jwt", EA_METHOD_JWT},
        {"introspect", EA_METHOD_INTROSPECT},
        {"oidc", EA_METHOD_OIDC},
    };

    lcf->methods = 0;
    lcf->norder = 0;
    lcf->methods_file = cf->conf_file->file.name;
    lcf->methods_line = cf->conf_file->line;
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        ngx_str_t *name = &value[i];
        if (ngx_strcmp(name->data, "off") == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"off\" cannot be combined with methods");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ngx_uint_t bit = 0;
        for (const auto &k : known) {
            if (ngx_strcmp(name->data, k.name) == 0) {
                bit = k.bit;
            }
        }
        if (bit == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown edge_auth method \"%V\" (expected "
                               "basic, bearer, api_key, jwt, introspect, oidc or off)", name);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (lcf->methods & bit) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "edge_auth method \"%V\" is listed twice", name);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        lcf->methods |= bit;
        lcf->order[lcf->norder++] = bit;
    }
    return NGX_CONF_OK;
}


/* A level's users: created on the first user directive of that level. */
static ea_users_t *
ea_level_users(ngx_conf_t *cf, ea_loc_conf_t *lcf)
{
    if (lcf->users == NULL) {
        lcf->users = static_cast<ea_users_t *>(
            ngx_pcalloc(cf->pool, sizeof(ea_users_t)));
        if (lcf->users == NULL) {
            throw std::bad_alloc();
        }
    }
    return lcf->users;
}


static char *
ea_conf_user_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        ea_users_t *users = ea_level_users(cf, lcf);

        if (users->file != NULL) {
            return const_cast<char *>("is duplicate");
        }
        ngx_str_t path = value[1];
        if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
            ngx_http_conf_get_module_main_conf(cf, ngx_http_edge_auth_module));
        std::string error;
        users->file = ea_user_file_get(cf, mcf, &path, error);
        if (users->file == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", error.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_user(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        std::string_view name = ea_sv(value[1]);

        if (name.empty() || name.find(':') != std::string_view::npos
            || !edge_auth::is_valid_utf8(name))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid user name \"%V\" in edge_auth_user",
                               &value[1]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        Result<std::string> secret = ea_conf_secret(cf, ea_sv(value[2]));
        if (!secret) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_user \"%V\": %s",
                               &value[1], secret.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        std::string hash = *secret;
        if (edge_auth::classify_hash(hash) == edge_auth::HashScheme::Unknown) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "edge_auth_user \"%V\" has a cleartext password; "
                               "store a hash instead (htpasswd -nB %V)",
                               &value[1], &value[1]);
            hash = edge_auth::plain_hash(hash);
        }
        edge_auth::wipe(*secret);

        ea_users_t *users = ea_level_users(cf, lcf);
        if (users->inline_ == NULL) {
            users->inline_ = ea_conf_own(cf, std::make_unique<edge_auth::UserTable>());
        }
        auto *table = static_cast<edge_auth::UserTable *>(users->inline_);
        if (!table->users.emplace(std::string(name), std::move(hash)).second) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "edge_auth_user \"%V\" is duplicate", &value[1]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        return NGX_CONF_OK;
    });
}


static edge_auth::TokenSet *
ea_level_tokens(ngx_conf_t *cf, ea_loc_conf_t *lcf)
{
    if (lcf->tokens == NULL) {
        lcf->tokens = ea_conf_own(cf, std::make_unique<edge_auth::TokenSet>());
    }
    return lcf->tokens;
}


static char *
ea_conf_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        edge_auth::TokenSet *tokens = ea_level_tokens(cf, lcf);

        std::string label = "token" + std::to_string(tokens->size() + 1);
        if (cf->args->nelts == 3) {
            std::string_view arg = ea_sv(value[2]);
            if (arg.substr(0, 6) != "label=" || arg.size() == 6
                || !edge_auth::is_header_name(arg.substr(6)))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\" in edge_auth_token "
                                   "(expected label=NAME)", &value[2]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            label = std::string(arg.substr(6));
        }

        Result<std::string> token = ea_conf_secret(cf, ea_sv(value[1]));
        if (!token) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_token: %s",
                               token.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (edge_auth::check_token_syntax(*token) != edge_auth::AuthStatus::Ok) {
            edge_auth::wipe(*token);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "edge_auth_token \"%s\": a token must be 1 to "
                               "4096 visible ASCII characters", label.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        tokens->add(*token, std::move(label));
        edge_auth::wipe(*token);
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_token_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

        ngx_str_t path = value[1];
        if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        std::string ref = "file:" + std::string(ea_sv(path));
        Result<std::string> text = edge_auth::resolve_secret_ref(ref);
        if (!text) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_token_file: %s",
                               text.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        Result<bool> added = ea_level_tokens(cf, lcf)->add_file_content(*text);
        edge_auth::wipe(*text);
        if (!added) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_token_file \"%V\": %s",
                               &path, added.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_key_from(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

    if (lcf->key_sources != NULL) {
        return const_cast<char *>("is duplicate");
    }
    lcf->key_sources = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                        sizeof(ea_key_source_t));
    if (lcf->key_sources == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        ea_key_source_t *src = static_cast<ea_key_source_t *>(
            ngx_array_push(lcf->key_sources));
        if (src == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        std::string_view arg = ea_sv(value[i]);
        std::string_view name;
        if (arg.substr(0, 7) == "header=") {
            src->query = 0;
            name = arg.substr(7);
        } else if (arg.substr(0, 6) == "query=") {
            src->query = 1;
            name = arg.substr(6);
        }
        if (name.empty() || !edge_auth::is_header_name(name)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in edge_auth_api_key_from "
                               "(expected header=NAME or query=NAME)", &value[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        src->name.data = value[i].data + (arg.size() - name.size());
        src->name.len = name.size();
        src->lowcase.len = name.size();
        src->lowcase.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, name.size()));
        if (src->lowcase.data == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ngx_strlow(src->lowcase.data, src->name.data, name.size());
    }
    return NGX_CONF_OK;
}


/* A value: a secret reference resolved now, or text with variables. */
static ngx_http_complex_value_t *
ea_conf_value(ngx_conf_t *cf, ngx_str_t *arg, const char *directive)
{
    ngx_http_complex_value_t *cv = static_cast<ngx_http_complex_value_t *>(
        ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t)));
    if (cv == NULL) {
        throw std::bad_alloc();
    }

    if (edge_auth::is_secret_ref(ea_sv(*arg))) {
        Result<std::string> secret = ea_conf_secret(cf, ea_sv(*arg));
        if (!secret) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: %s", directive,
                               secret.error().c_str());
            return NULL;
        }
        if (!edge_auth::is_safe_header_value(*secret)) {
            edge_auth::wipe(*secret);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s: the value of \"%V\" contains CR, LF or NUL",
                               directive, arg);
            return NULL;
        }
        /* A static complex value: no variables, kept verbatim. */
        if (ea_pstr(cf->pool, *secret, &cv->value) != NGX_OK) {
            throw std::bad_alloc();
        }
        edge_auth::wipe(*secret);
        return cv;
    }

    ngx_http_compile_complex_value_t ccv;
    ngx_memzero(&ccv, sizeof(ccv));
    ccv.cf = cf;
    ccv.value = arg;
    ccv.complex_value = cv;
    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }
    if (cv->lengths == NULL && !edge_auth::is_safe_header_value(ea_sv(cv->value))) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: the value contains CR, LF or NUL", directive);
        return NULL;
    }
    return cv;
}


static char *
ea_conf_upstream(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        const char *directive = reinterpret_cast<const char *>(cmd->name.data);

        if (lcf->injects == NULL) {
            lcf->injects = ngx_array_create(cf->pool, 4, sizeof(ea_inject_t));
            if (lcf->injects == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        ea_inject_t *inj = static_cast<ea_inject_t *>(ngx_array_push(lcf->injects));
        if (inj == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ngx_memzero(inj, sizeof(ea_inject_t));
        inj->kind = cmd->offset;

        if (inj->kind == EA_INJECT_OAUTH) {
            ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
                ngx_http_conf_get_module_main_conf(cf, ngx_http_edge_auth_module));
            ea_oauth_ref_t *ref = static_cast<ea_oauth_ref_t *>(
                ngx_array_push(mcf->oauth_refs));
            if (ref == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            ref->injects = lcf->injects;
            ref->index = lcf->injects->nelts - 1;
            ref->name = value[1];
            ref->file = cf->conf_file->file.name;
            ref->line = cf->conf_file->line;
            ngx_str_set(&inj->name, "Authorization");
        } else if (inj->kind == EA_INJECT_BASIC) {
            inj->value = ea_conf_value(cf, &value[1], directive);
            if (inj->value == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            inj->password = ea_conf_value(cf, &value[2], directive);
            if (inj->password == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            if (inj->value->lengths == NULL
                && ea_sv(inj->value->value).find(':') != std::string_view::npos)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s: the user name cannot contain \":\"",
                                   directive);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            ngx_str_set(&inj->name, "Authorization");
        } else {
            inj->name = value[1];
            bool valid = inj->kind == EA_INJECT_HEADER
                             ? edge_auth::is_header_name(ea_sv(inj->name))
                             : inj->name.len > 0;
            if (!valid) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: invalid name \"%V\"",
                                   directive, &value[1]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            inj->value = ea_conf_value(cf, &value[2], directive);
            if (inj->value == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }

        inj->lowcase.len = inj->name.len;
        inj->lowcase.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, inj->name.len));
        if (inj->lowcase.data == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        inj->hash = ngx_hash_strlow(inj->lowcase.data, inj->name.data, inj->name.len);
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

    if (mcf->zone_size != NGX_CONF_UNSET_SIZE) {
        return const_cast<char *>("is duplicate");
    }
    ssize_t size = ngx_parse_size(&value[1]);
    if (size == NGX_ERROR || size < static_cast<ssize_t>(8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid edge_auth_zone size \"%V\" (at least %uzk)",
                           &value[1], 8 * ngx_pagesize / 1024);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    mcf->zone_size = size;
    return NGX_CONF_OK;
}


static char *
ea_conf_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

    if (mcf->thread_pool_name.len) {
        return const_cast<char *>("is duplicate");
    }
#if (NGX_THREADS)
    mcf->thread_pool_name = value[1];
    /* Added here so that an unknown pool is reported at this line. */
    mcf->thread_pool = ngx_thread_pool_add(cf, &value[1]);
    if (mcf->thread_pool == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
#else
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "edge_auth_thread_pool needs nginx built --with-threads");
    return static_cast<char *>(NGX_CONF_ERROR);
#endif
}


static char *
ea_conf_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

        if (mcf->redis != NULL) {
            return const_cast<char *>("is duplicate");
        }
        edge_auth::Result<edge_auth::RedisUrl> url =
            edge_auth::parse_redis_url(ea_sv(value[1]));
        if (!url) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_redis: %s",
                               url.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        auto rc = std::make_unique<ea_redis_conf_t>();
        rc->port = url->port;
        rc->db = url->db;
        rc->username = url->username;
        rc->timeout = 200;
        rc->prefix = "edge_auth:";
        if (!url->password.empty()) {
            Result<std::string> pw = ea_conf_secret(cf, url->password);
            if (!pw) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_redis password: %s",
                                   pw.error().c_str());
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            rc->password = std::move(*pw);
        }

        for (ngx_uint_t i = 2; i < cf->args->nelts; i++) {
            std::string_view arg = ea_sv(value[i]);
            if (arg.substr(0, 7) == "prefix=") {
                rc->prefix.assign(arg.substr(7));
            } else if (arg.substr(0, 8) == "timeout=") {
                ngx_str_t t = {value[i].len - 8, value[i].data + 8};
                ngx_int_t ms = ngx_parse_time(&t, 0);
                if (ms == NGX_ERROR || ms <= 0) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "edge_auth_redis: invalid timeout \"%V\"", &t);
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
                rc->timeout = ms;
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "edge_auth_redis: invalid parameter \"%V\"", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }

        /* Resolved now, when the configuration is loaded, the way nginx
         * resolves upstream servers: hiredis would resolve a name with a
         * blocking call in the worker. */
        ngx_url_t u;
        ngx_memzero(&u, sizeof(ngx_url_t));
        std::string hostport = (url->host.find(':') != std::string::npos
                                    ? "[" + url->host + "]" : url->host)
                               + ":" + std::to_string(url->port);
        if (ea_pstr(cf->pool, hostport, &u.url) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        u.default_port = static_cast<in_port_t>(url->port);
        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "edge_auth_redis: cannot resolve host \"%s\"%s%s",
                               url->host.c_str(), u.err ? ": " : "", u.err ? u.err : "");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        u_char text[NGX_SOCKADDR_STRLEN];
        size_t len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                                   sizeof(text), 0);
        rc->host.assign(reinterpret_cast<char *>(text), len);

        mcf->redis = ea_conf_own(cf, std::move(rc));
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_session_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

        if (mcf->session_secret != NULL) {
            return const_cast<char *>("is duplicate");
        }
        Result<std::string> secret = ea_conf_secret(cf, ea_sv(value[1]));
        if (!secret) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_session_secret: %s",
                               secret.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (secret->size() < 32) {
            edge_auth::wipe(*secret);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "edge_auth_session_secret must be at least 32 bytes "
                               "(e.g. openssl rand -base64 48)");
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        mcf->session_secret = ea_conf_own(cf, std::make_unique<std::string>(std::move(*secret)));
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_jwt_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        std::string_view where = ea_sv(value[1]);
        int64_t ttl = 300000, refresh_min = 10000;

        for (ngx_uint_t i = 2; i < cf->args->nelts; i++) {
            std::string_view arg = ea_sv(value[i]);
            int64_t *slot = arg.substr(0, 4) == "ttl=" ? &ttl
                            : arg.substr(0, 12) == "refresh_min=" ? &refresh_min
                                                                  : NULL;
            size_t eq = arg.find('=');
            ngx_str_t t = {value[i].len - eq - 1, value[i].data + eq + 1};
            ngx_int_t ms = slot ? ngx_parse_time(&t, 0) : NGX_ERROR;
            if (ms == NGX_ERROR || ms <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\" in edge_auth_jwt_keys "
                                   "(expected ttl=TIME or refresh_min=TIME)", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            *slot = ms;
        }

        if (lcf->jwt_keys == NULL) {
            lcf->jwt_keys = ngx_array_create(cf->pool, 2, sizeof(ea_jwt_key_t));
            if (lcf->jwt_keys == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        ea_jwt_key_t *key = static_cast<ea_jwt_key_t *>(ngx_array_push(lcf->jwt_keys));
        if (key == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        ngx_memzero(key, sizeof(ea_jwt_key_t));

        if (where.substr(0, 8) == "https://" || where.substr(0, 7) == "http://") {
            ea_main_conf_t *mcf = static_cast<ea_main_conf_t *>(
                ngx_http_conf_get_module_main_conf(cf, ngx_http_edge_auth_module));
            key->url = ea_jwks_source(cf, mcf, where, ttl, refresh_min);
            return NGX_CONF_OK;
        }

        ngx_str_t path = value[1];
        if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        Result<std::string> text = edge_auth::resolve_secret_ref("file:" + std::string(ea_sv(path)));
        if (!text) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_jwt_keys: %s",
                               text.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        std::string error;
        auto keys = ea_jwks_parse(*text, &error);
        if (!keys) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_jwt_keys \"%V\": %s",
                               &path, error.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (!error.empty()) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "edge_auth_jwt_keys \"%V\": %s",
                               &path, error.c_str());
        }
        key->file = ea_conf_own(cf, std::make_unique<std::shared_ptr<const edge_auth::KeySet>>(
                                        std::move(keys)));
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        if (lcf->jwt_secret != NULL) {
            return const_cast<char *>("is duplicate");
        }
        Result<std::string> secret = ea_conf_secret(cf, ea_sv(value[1]));
        if (!secret) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_jwt_secret: %s",
                               secret.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        /* RFC 7518 3.2: a key at least as long as the hash output */
        edge_auth::Result<edge_auth::KeySet> keys = edge_auth::load_hmac_secret(*secret);
        if (!keys) {
            edge_auth::wipe(*secret);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "edge_auth_jwt_secret: %s",
                               keys.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        lcf->jwt_secret = ea_conf_own(cf, std::make_unique<std::string>(std::move(*secret)));
        lcf->jwt_secret_keys = ea_conf_own(
            cf, std::make_unique<std::shared_ptr<const edge_auth::KeySet>>(
                    std::make_shared<const edge_auth::KeySet>(std::move(*keys))));
        return NGX_CONF_OK;
    });
}


/* A list of words (algorithms, issuers, audiences); checked when merged. */
static char *
ea_conf_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    char *base = static_cast<char *>(conf);
    ngx_array_t **list = reinterpret_cast<ngx_array_t **>(base + cmd->offset);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);

    if (*list != NULL) {
        return const_cast<char *>("is duplicate");
    }
    *list = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (*list == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        if (cmd->offset == offsetof(ea_loc_conf_t, jwt_algorithms)) {
            static const char *known[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                          "RS512", "PS256", "PS384", "PS512", "ES256",
                                          "ES384", "ES512", "EdDSA"};
            bool ok = false;
            for (const char *k : known) {
                ok = ok || ngx_strcmp(value[i].data, k) == 0;
            }
            if (!ok) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   ngx_strcasecmp(value[i].data, (u_char *) "none") == 0
                                       ? "the JWS algorithm \"%V\" is never accepted"
                                       : "unknown JWS algorithm \"%V\"", &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        ngx_str_t *s = static_cast<ngx_str_t *>(ngx_array_push(*list));
        if (s == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        *s = value[i];
    }
    return NGX_CONF_OK;
}


static char *
ea_conf_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        auto rule = edge_auth::ClaimRule::parse(
            ea_sv(value[1]), ea_sv(value[2]), cf->args->nelts == 4 ? ea_sv(value[3]) : "");
        if (!rule) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid edge_auth_require: %s",
                               rule.error().c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (lcf->rules == NULL) {
            lcf->rules = ngx_array_create(cf->pool, 2, sizeof(edge_auth::ClaimRule *));
            if (lcf->rules == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        auto **slot = static_cast<edge_auth::ClaimRule **>(ngx_array_push(lcf->rules));
        if (slot == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        *slot = ea_conf_own(cf, std::make_unique<edge_auth::ClaimRule>(std::move(*rule)));
        return NGX_CONF_OK;
    });
}


static char *
ea_conf_claim_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) noexcept
{
    return ea_conf_guard(cf, [&]() -> char * {
        ea_loc_conf_t *lcf = static_cast<ea_loc_conf_t *>(conf);
        ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
        if (!edge_auth::is_header_name(ea_sv(value[1])) || value[2].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid edge_auth_claim_header \"%V\" \"%V\"",
                               &value[1], &value[2]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        if (lcf->claim_headers == NULL) {
            lcf->claim_headers = ngx_array_create(cf->pool, 2, sizeof(ea_claim_header_t));
            if (lcf->claim_headers == NULL) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
        ea_claim_header_t *h = static_cast<ea_claim_header_t *>(
            ngx_array_push(lcf->claim_headers));
        if (h == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        h->name = value[1];
        h->lowcase.len = value[1].len;
        h->lowcase.data = static_cast<u_char *>(ngx_pnalloc(cf->pool, value[1].len));
        if (h->lowcase.data == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        h->hash = ngx_hash_strlow(h->lowcase.data, value[1].data, value[1].len);
        h->claim = ea_conf_own(cf, std::make_unique<std::string>(ea_sv(value[2])));
        return NGX_CONF_OK;
    });
}
