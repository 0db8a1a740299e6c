from django.urls import path

from channels import views, views_decisions

urlpatterns = [
    path("deliveries/", views.delivery_index, name="delivery_list"),
    path("deliveries/<int:pk>/", views.delivery_detail, name="delivery_detail"),
    path("offers/", views_decisions.placement_list, name="placement_list"),
    path("offers/placements/new/", views_decisions.placement_create, name="placement_create"),
    path("offers/placements/<int:pk>/", views_decisions.placement_detail,
         name="placement_detail"),
    path("offers/placements/<int:pk>/edit/", views_decisions.placement_edit,
         name="placement_edit"),
    path("offers/placements/<int:placement_pk>/offers/new/", views_decisions.offer_create,
         name="offer_create"),
    path("offers/<int:pk>/edit/", views_decisions.offer_edit, name="offer_edit"),
    path("offers/<int:pk>/delete/", views_decisions.offer_remove, name="offer_delete"),
]
