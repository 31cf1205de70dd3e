"""OpenAPI -> pydantic models, FastAPI stubs, typed client and operation metadata.

Pipeline: load -> bundle -> validate -> operation model -> render -> write (see pipeline.py).
"""
