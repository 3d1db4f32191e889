"""No HTTP pages: the benchmark only opens sockets."""
urlpatterns = []
