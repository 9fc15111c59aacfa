HX = {"HTTP_HX_REQUEST": "true"}
