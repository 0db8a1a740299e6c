from django.urls import path

from channels import views

urlpatterns = [
    path("deliveries/", views.delivery_index, name="delivery_list"),
    path("deliveries/<int:pk>/", views.delivery_detail, name="delivery_detail"),
]
