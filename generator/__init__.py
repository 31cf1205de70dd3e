"""OpenAPI -> pydantic models, Starlette stubs, typed client and operation metadata.

Pipeline: load -> bundle -> validate -> operation model -> render -> write (see pipeline.py).
"""
