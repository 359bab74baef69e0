// nginx (njs) for Clavis behind a TLS-terminating nginx: the client certificate as the
// Client-Cert header of RFC 9440 section 2, the DER certificate in base64 between colons,
// which nginx has no variable for ($ssl_client_raw_cert is PEM, with line breaks).
// See the README, "Mutual TLS"; Clavis reads the header with CLAVIS_PROXY_CLIENT_CERT=true.
//
//   load_module modules/ngx_http_js_module.so;     # Debian: libnginx-mod-http-js
//   http {
//     js_import client_cert from /etc/nginx/client_cert.js;
//     js_set $client_cert_rfc9440 client_cert.header;
//     server {
//       ssl_verify_client optional_no_ca;            # ask for a certificate, Clavis judges it
//       location / {
//         proxy_pass http://clavis;
//         proxy_set_header Client-Cert $client_cert_rfc9440;  # replaces what a client sent
//         # A location's proxy_set_header drops the server's: repeat the forwarding headers.
//         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
//         proxy_set_header X-Forwarded-Proto $scheme;
//       }
//     }
//   }

function header(r) {
    var pem = r.variables.ssl_client_raw_cert;
    if (!pem) {
        // No certificate: an empty value makes nginx send no Client-Cert at all.
        return '';
    }
    var base64 = pem
        .replace(/-----BEGIN CERTIFICATE-----/, '')
        .replace(/-----END CERTIFICATE-----/, '')
        .replace(/\s+/g, '');
    return ':' + base64 + ':';
}

export default { header };
