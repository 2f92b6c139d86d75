/* Office of Environmental Data -- marks links that leave the site. */
document.addEventListener("DOMContentLoaded", function () {
	var links = document.querySelectorAll("a[href^='http']");
	for (var i = 0; i < links.length; i++) {
		if (links[i].host !== window.location.host) {
			links[i].setAttribute("rel", "external noopener");
			links[i].title = "Leaves the Office of Environmental Data website";
		}
	}
});
