# Peer of ferry's edge for cache hits: Varnish with the built-in VCL (it caches by the origin's
# Cache-Control: max-age=3600) and its default backend keep-alive.
vcl 4.1;

backend origin {
  .host = "127.0.0.1";
  .port = "@ORIGIN1_PORT@";
}
