#include "ngx/ngx_edge_auth.h"

static ngx_http_module_t ngx_http_edge_auth_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};

static ngx_command_t ngx_http_edge_auth_commands[] = {
    ngx_null_command
};

ngx_module_t ngx_http_edge_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_edge_auth_module_ctx,
    ngx_http_edge_auth_commands,
    NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};
