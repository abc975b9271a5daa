"""Flask and WSGI helpers: label every sample taken during a request with its endpoint.

    import ember.flask
    ember.flask.init_app(app)          # label "endpoint" = the URL rule, e.g. "/calc"

or, for any WSGI application::

    app = ember.flask.WSGIMiddleware(app)   # label "endpoint" = PATH_INFO
"""
import ember

__all__ = ["init_app", "WSGIMiddleware"]


def init_app(app, label="endpoint"):
    """Registers request hooks on a Flask app. The label's value is the matched
    URL rule (bounded cardinality); unmatched requests get "<unmatched>"."""
    from flask import g, request

    @app.before_request
    def _ember_begin():
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        cm = ember.tag_wrapper({label: rule})
        cm.__enter__()
        g._ember_tags = cm

    @app.teardown_request
    def _ember_end(exc):
        cm = g.pop("_ember_tags", None)
        if cm is not None:
            cm.__exit__(None, None, None)

    return app


class WSGIMiddleware:
    """Wraps a WSGI app; samples during the call (and while the response is
    iterated) carry label=name_of(environ), PATH_INFO by default. Give
    name_of to collapse ids in paths, keeping the label's cardinality low."""

    def __init__(self, app, label="endpoint", name_of=None):
        self.app = app
        self.label = label
        self.name_of = name_of or (lambda environ: environ.get("PATH_INFO") or "/")

    def __call__(self, environ, start_response):
        with ember.tag_wrapper({self.label: self.name_of(environ)}):
            result = self.app(environ, start_response)
            try:
                for chunk in result:
                    yield chunk
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
