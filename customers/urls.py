"""/api/customers/ and /api/tags/ (mounted under /api/ by fiko/urls.py)."""
from rest_framework.routers import SimpleRouter

from .api import CustomerViewSet, TagViewSet

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("tags", TagViewSet, basename="tag")

urlpatterns = router.urls
