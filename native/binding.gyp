{
  "targets": [
    {
      "target_name": "strata_crc32c",
      "sources": ["crc32c.c"],
      "cflags": ["-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
