"""Generated from openapi.yaml by `make generate`: do not edit by hand."""
