/*
 * edge-auth nginx connector: declarations shared by the src/ngx files.
 *
 *   load_module modules/ngx_http_edge_auth_module.so;
 *   location /api/ { edge_auth bearer; edge_auth_token env:API_TOKEN; proxy_pass http://b; }
 *
 * The connector is thin: nginx types, phases and storage live here; all
 * protocol and parsing logic is in src/core. Every function nginx calls is
 * noexcept and turns a C++ exception into NGX_ERROR plus an error-log line.
 */

#ifndef EDGE_AUTH_NGX_EDGE_AUTH_H
#define EDGE_AUTH_NGX_EDGE_AUTH_H

/* nginx headers are C; some of their idioms warn under C++ with -W -Werror
 * (nginx's default flags), so those warnings are silenced for them only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif
}
#pragma GCC diagnostic pop

extern "C" ngx_module_t ngx_http_edge_auth_module;

#endif /* EDGE_AUTH_NGX_EDGE_AUTH_H */
